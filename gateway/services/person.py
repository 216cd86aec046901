"""What the lifecycle servicers share: who may act, and the person behind a portal call.

A person acts only through the citizen portal, proven by a self_query consent artefact
they signed for it (as for their access report). A department acts on the records it
provided; a regulator sees deadlines and counts, never the texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalogue.registry import Catalogue, Party
from gateway.clock import city_today
from gateway.crypto.blind_index import blind_indexes
from gateway.errors import ConsentRefused, InvalidArgument, NotFound, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import IdNumber, parse_id_number
from gateway.records.model import StoredRecord
from gateway.services.common import CallFrame

PORTAL_ROLE = "citizen_portal"
REGULATOR_ROLE = "regulator"
SELF_PURPOSE = "self_query"
PROVIDER_PURPOSE = "submission"
SUPERVISION_PURPOSE = "supervision"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


@dataclass(frozen=True, slots=True)
class Person:
    """The person a portal call is for: their ID number and its blind indexes."""

    subject: IdNumber
    indexes: tuple[str, ...]
    #: The categories the person's consent names: the portal acts within these only.
    categories: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return "Person(<redacted>)"

    def check_scope(self, category: str) -> None:
        """Refuse a record outside the consent's categories; raises ConsentRefused."""
        if category not in self.categories:
            raise ConsentRefused("the person's consent does not name this record's category",
                                 reason="consent_scope")


def is_portal(party: Party) -> bool:
    """Whether the party is the citizen portal."""
    return PORTAL_ROLE in party.roles


def is_regulator(party: Party) -> bool:
    """Whether the party is a regulator."""
    return REGULATOR_ROLE in party.roles


def is_provider(catalogue: Catalogue, party: Party) -> bool:
    """Whether the party provides records of at least one category."""
    return any(party.id in c.providers for c in catalogue.categories.values())


def portal_person(call: CallFrame, party: Party, subject_id: str, consent_id: str) -> Person:
    """The person a portal call acts for, proven by their self_query consent.

    Raises PermissionDenied (not the portal), InvalidArgument (bad ID number) or
    ConsentRefused (no valid consent of this person for the portal).
    """
    gw = call.gw
    call.draft.purpose = SELF_PURPOSE
    with call.step("decide"):
        if not is_portal(party):
            raise PermissionDenied("only the citizen portal acts for a person",
                                   reason="not_citizen_portal")
    with call.step("validate"):
        subject = parse_id_number(subject_id, today=city_today(gw.clock))
        indexes = tuple(blind_indexes(gw.keyring, subject.value))
        call.draft.subject_index = indexes[0]
    with call.step("consent"):
        consent = call.check_consent(consent_id, subject=subject, grantee=party.id,
                                     purpose=SELF_PURPOSE,
                                     requested=list(call.catalogue.categories), explicit=False)
        call.draft.categories = tuple(sorted(consent.categories))
    return Person(subject=subject, indexes=indexes, categories=consent.categories)


def persons_record(call: CallFrame, person: Person, record_id: str) -> StoredRecord:
    """One of the person's records; the same NotFound for absent and someone else's."""
    record_id = check_identifier(record_id, what="record_id")
    record = call.gw.store.get_record(record_id)
    if record is None or record.subject_index not in person.indexes:
        raise NotFound("no record with this id concerns this person", reason="record_unknown")
    call.draft.categories = (record.category,)
    person.check_scope(record.category)  # the consent covers this record's category
    call.draft.record_count = 1
    return record


def page_limit(limit: int) -> int:
    """A list size: the default for 0, at most MAX_LIMIT."""
    return DEFAULT_LIMIT if limit == 0 else min(limit, MAX_LIMIT)


def status_filter(status: str, known: tuple[str, ...]) -> str | None:
    """A status filter ("" for all); raises InvalidArgument for an unknown status."""
    if status and status not in known:
        raise InvalidArgument(f"status must be one of {', '.join(known)} or empty")
    return status or None
