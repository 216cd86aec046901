"""The validate step for submissions and queries: codes, sizes, ID numbers, remit.

Every message names the record index and the field, never the value, so nothing
personal is echoed back to the caller or written to logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.catalogue.counties import check_record_county
from gateway.catalogue.registry import (
    NAME_TYPES,
    Catalogue,
    Category,
    FieldSpec,
    Party,
    Purpose,
)
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.pii.identifiers import check_identifier, nearest_code
from gateway.pii.idnumber import IdNumber, parse_id_number
from gateway.pii.scanner import BANK_CARD, is_id_body, is_id_number, is_old_id_number, scan
from gateway.records.field_types import TYPED, check_typed
from gateway.records.model import RecordSubmission

MAX_SOURCE_ID_CHARS = 128
MAX_QUERY_CATEGORIES = 64
MAX_CONSENT_ID_CHARS = 128
#: The record ids the gateway makes (gateway.records.intake, gateway.peers.receive).
_RECORD_ID = re.compile(r"rec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Control characters (but line breaks and tabs) and lone surrogates are refused: they
# have no place in a credit record and not every store accepts them (PostgreSQL refuses NUL).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Clear-stored types whose checked form holds no personal number: a date is YYYY-MM-DD,
# an enumeration one of the catalogue's values. A credit code is checked for an ID
# number alone: an all-digit code may pass a card number's Luhn check by chance.
_CLEAR_UNSCANNED_TYPES = frozenset({"date", "enum", "uscc"})


def holds_personal_number(text: str) -> bool:
    """Whether a text holds an ID number (also the old 15-digit one), a mobile or a bank
    card number (never says which)."""
    return bool(scan(text, old_ids=True))


def reads_as_id_number(text: str) -> bool:
    """Whether a text, blanks and dashes aside, is an ID number (or its first 17 digits)."""
    compact = re.sub(r"[\s\-]", "", text).upper()
    return is_id_number(compact) or is_id_body(compact[:17]) or is_old_id_number(compact)


def check_clear_value(spec: FieldSpec, value: str, *, where: str,
                      typed: bool = True, names: Sequence[str] = ()) -> None:
    """Refuse a value of a field stored in clear (not sensitive) that holds personal data;
    raises InvalidArgument naming the field, never the value. One rule for every way a
    record comes in: a submission, a correction, a peer's push. ``typed``: the value was
    checked against its type (a peer's, possibly masked, was not: a date or an
    enumeration is scanned then like any text). ``names``: the record's own person
    names, refused in its clear text however written (a clear field is released in clear
    to parties that see the name field masked)."""
    if spec.sensitive:
        return
    if typed and spec.type == "uscc":
        bad = reads_as_id_number(value)  # a checked code: only an ID number in its place
    elif typed and spec.type in _CLEAR_UNSCANNED_TYPES:
        bad = False
    else:
        found = {finding.kind for finding in scan(value, names=names, old_ids=True,
                                                  given_names=False)}
        if spec.type == "uscc":
            found.discard(BANK_CARD)  # an all-digit code may pass the Luhn check by chance
        bad = bool(found)
    if bad:
        raise InvalidArgument(f"{where}: field {spec.code} holds what reads as personal data "
                              "(an ID, mobile or bank card number, an address finer than the "
                              "district, a named relative or the person's name), and it is "
                              "stored in clear",
                              reason="personal_number_in_clear")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as received, before validation."""

    subject_id: str
    category: str
    severity: str
    event_date: str
    fields: Mapping[str, str]
    source_record_id: str
    domain: str = ""
    occupation: str = ""
    county: str = ""


def _parse_date(text: str, *, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{where}: event_date must be a date YYYY-MM-DD") from None


def validate_record(
    raw: RawRecord, *, index: int, provider: Party, catalogue: Catalogue, today: date
) -> RecordSubmission:
    """Check one record against the catalogue and the provider's remit.

    Raises InvalidArgument for malformed input and PermissionDenied for a category
    outside the provider's remit; both name the record index.
    """
    where = f"record {index}"
    category = catalogue.categories.get(raw.category)
    if category is None:
        raise InvalidArgument(f"{where}: unknown category code"
                              f"{nearest_code(raw.category, catalogue.categories)}",
                              reason="unknown_category")
    if provider.id not in category.providers:
        raise PermissionDenied(
            f"{where}: category {category.code} is outside the remit of {provider.id}",
            reason="outside_remit",
        )
    check_record_county(raw.county, index=index, party=provider, counties=catalogue.counties)
    if raw.severity not in catalogue.severities:
        raise InvalidArgument(f"{where}: unknown severity code", reason="unknown_severity")
    if raw.severity not in category.severities:
        raise InvalidArgument(
            f"{where}: severity {raw.severity} is not allowed for {category.code}",
            reason="severity_not_allowed",
        )
    # The caller's identifier: the grammar (identifiers.py) before any other use.
    source_id = check_identifier(raw.source_record_id, what="source_record_id", where=where,
                                 max_chars=MAX_SOURCE_ID_CHARS, document=True)
    if holds_personal_number(source_id):
        raise InvalidArgument(f"{where}: source_record_id holds what reads as an ID, mobile "
                              "or bank card number (it is stored in clear)",
                              reason="personal_number_in_clear")
    event_date = _parse_date(raw.event_date, where=where)
    if event_date > today:
        raise InvalidArgument(f"{where}: event_date lies in the future")
    subject = parse_id_number(raw.subject_id, today=today, field=f"{where}: subject_id")
    if event_date < subject.birth_date:
        raise InvalidArgument(f"{where}: event_date precedes the subject's birth")
    if category.min_subject_age and subject.age_on(event_date) < category.min_subject_age:
        raise InvalidArgument(
            f"{where}: {category.code} may only hold records of subjects aged "
            f"{category.min_subject_age} or more on the event date",
            reason="subject_too_young",
        )
    # The record's own person names: none of them may stand in its clear text.
    own_names = [value for name, value in raw.fields.items()
                 if (named := category.fields.get(name)) is not None
                 and named.type in NAME_TYPES and isinstance(value, str) and value.strip()]
    fields: dict[str, str] = {}
    for position, (name, value) in enumerate(raw.fields.items(), start=1):
        spec = category.fields.get(name)
        if spec is None:
            # A field name is the caller's text: the error names its position and length,
            # and at most the nearest catalogue code, never the name itself.
            raise InvalidArgument(f"{where}: unknown field {position} (a name of {len(name)} "
                                  f"characters): not a field of {category.code}"
                                  f"{nearest_code(name, category.fields)}",
                                  reason="unknown_field")
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}: field {name} must be text")
        limit = min(spec.max_chars, catalogue.max_field_chars)
        if len(value) > limit:
            raise InvalidArgument(f"{where}: field {name} longer than {limit} characters")
        if _FORBIDDEN_CHARS.search(value):
            raise InvalidArgument(f"{where}: field {name} holds control characters")
        if spec.type in TYPED and value.strip():
            value = check_typed(spec, value, where=where)
        # A citation names a gateway record id (a UUID, whose digits read across its
        # hyphens as a mobile about once in a hundred ids); the citation check then
        # requires an existing record of the same person, so it carries no personal number.
        cited_id = name in category.cites and _RECORD_ID.fullmatch(value) is not None
        if not cited_id:
            check_clear_value(spec, value, where=where, names=own_names)
        if value.strip():
            fields[name] = value
    for spec in category.fields.values():
        if spec.required and spec.code not in fields:
            raise InvalidArgument(f"{where}: required field {spec.code} is empty")
    _check_lifecycle_codes(raw, category, fields, catalogue, where=where, today=today,
                           birth=subject.birth_date)
    return RecordSubmission(
        index=index,
        subject=subject,
        category=category.code,
        severity=raw.severity,
        event_date=event_date,
        fields=fields,
        source_record_id=source_id,
        domain=raw.domain,
        occupation=raw.occupation,
        county=raw.county,
    )


def _check_lifecycle_codes(raw: RawRecord, category: Category, fields: Mapping[str, str],
                           catalogue: Catalogue, *, where: str, today: date,
                           birth: date) -> None:
    """Domain and occupation codes, and the date the display period runs from."""
    if raw.domain and raw.domain not in catalogue.domains:
        raise InvalidArgument(f"{where}: unknown domain code", reason="unknown_domain")
    if raw.occupation and raw.occupation not in catalogue.occupations:
        raise InvalidArgument(f"{where}: unknown occupation code", reason="unknown_occupation")
    basis = category.display_from
    if basis and basis in fields:
        try:
            start = date.fromisoformat(fields[basis].strip())
        except ValueError:
            raise InvalidArgument(f"{where}: field {basis} must be a date YYYY-MM-DD") from None
        if start > today or start < birth:
            raise InvalidArgument(f"{where}: field {basis} lies in the future or before "
                                  "the subject's birth")


def validate_batch(
    raws: Sequence[RawRecord], *, provider: Party, catalogue: Catalogue, today: date
) -> list[RecordSubmission]:
    """Validate a whole batch; the first bad record refuses the batch."""
    if not raws:
        raise InvalidArgument("the batch holds no records")
    if len(raws) > catalogue.max_batch:
        raise InvalidArgument(f"the batch holds more than {catalogue.max_batch} records")
    seen: dict[str, int] = {}
    out = []
    for index, raw in enumerate(raws):
        record = validate_record(raw, index=index, provider=provider, catalogue=catalogue,
                                 today=today)
        if record.source_record_id in seen:
            raise InvalidArgument(
                f"record {index}: source_record_id repeats record {seen[record.source_record_id]}")
        seen[record.source_record_id] = index
        out.append(record)
    return out


@dataclass(frozen=True, slots=True)
class ValidQuery:
    """A validated QuerySubject request."""

    subject: IdNumber
    purpose: Purpose
    categories: tuple[str, ...]
    consent_id: str
    #: Only records filed under these key domains; empty: every record.
    domains: frozenset[str] = frozenset()
    #: Only records filed under these occupational groups; empty: every record.
    occupations: frozenset[str] = frozenset()


def validate_query(
    *,
    subject_id: str,
    purpose: str,
    categories: Sequence[str],
    consent_id: str,
    catalogue: Catalogue,
    today: date,
    domains: Sequence[str] = (),
    occupations: Sequence[str] = (),
) -> ValidQuery:
    """Check a query's codes and sizes; raises InvalidArgument."""
    if not purpose:
        raise InvalidArgument("purpose is required")
    found = catalogue.purposes.get(purpose)
    if found is None or not found.queryable:
        raise InvalidArgument("unknown purpose code" + nearest_code(
            purpose, [p.code for p in catalogue.purposes.values() if p.queryable]),
            reason="unknown_purpose")
    if len(categories) > MAX_QUERY_CATEGORIES:
        raise InvalidArgument(f"more than {MAX_QUERY_CATEGORIES} categories requested")
    for position, code in enumerate(categories, start=1):
        if code not in catalogue.categories:
            raise InvalidArgument(f"category {position}: unknown category code"
                                  f"{nearest_code(code, catalogue.categories)}",
                                  reason="unknown_category")
    if len(consent_id) > MAX_CONSENT_ID_CHARS:
        raise InvalidArgument("consent_id is too long")
    if len(domains) > MAX_QUERY_CATEGORIES:
        raise InvalidArgument(f"more than {MAX_QUERY_CATEGORIES} domains requested")
    for code in domains:
        if code not in catalogue.domains:
            raise InvalidArgument("unknown domain code", reason="unknown_domain")
    if len(occupations) > MAX_QUERY_CATEGORIES:
        raise InvalidArgument(f"more than {MAX_QUERY_CATEGORIES} occupations requested")
    for code in occupations:
        if code not in catalogue.occupations:
            raise InvalidArgument("unknown occupation code", reason="unknown_occupation")
    subject = parse_id_number(subject_id, today=today)
    wanted = tuple(dict.fromkeys(categories)) or tuple(catalogue.categories)
    return ValidQuery(subject=subject, purpose=found, categories=wanted, consent_id=consent_id,
                      domains=frozenset(domains), occupations=frozenset(occupations))


MAX_ID_CHARS = 128


def check_free_text(value: str, *, what: str, max_chars: int = 2000,
                    required: bool = True) -> str:
    """A person's or an official's free text, stripped; raises InvalidArgument (never
    echoing the text) when it is empty but required, too long or holds control characters.
    """
    text = value.strip()
    if required and not text:
        raise InvalidArgument(f"{what} is required")
    if len(text) > max_chars:
        raise InvalidArgument(f"{what} longer than {max_chars} characters")
    if _FORBIDDEN_CHARS.search(text):
        raise InvalidArgument(f"{what} holds control characters")
    return text

