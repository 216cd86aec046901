"""The catalogue: parties, categories, fields, severities and purposes, read from policies/.

The catalogue is data reviewed like code (policies/*.toml). Loading it checks every
cross-reference, so a gateway never starts on a catalogue that names an unknown
party, group or severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from gateway.catalogue.counties import (
    County,
    check_county_parties,
    county_role_edges,
    parse_counties,
    with_county_providers,
)
from gateway.catalogue.incentives import Incentive, check_incentives
from gateway.catalogue.policy_keys import (
    UNTIL_REMOVED,
    CatalogueFile,
    CategoryTable,
    FieldTable,
    PartiesFile,
    PurposesFile,
)
from gateway.catalogue.rules import (
    LifecycleRules,
    Measure,
    RepairRule,
    Term,
    check_lifecycle,
    parse_lifecycle,
    parse_repair,
)
from gateway.catalogue.sharing import SharingRule, load_sharing
from gateway.errors import ConfigurationError
from gateway.strict_toml import decode, read_toml

FIELD_TYPES = frozenset(
    {
        "person_name", "id_number", "mobile", "bank_card", "address", "date", "money",
        "text", "free_text", "code", "enum", "org_name", "uscc",
    }
)
#: Field types that hold a person's name: masked inside free text by the scan operator,
#: and looked for in the record's clear text at intake.
NAME_TYPES = frozenset({"person_name"})
# The kind of personal data a field holds, whatever its type or category: the rules of
# one kind must protect it alike wherever it sits (`credgate policy validate` checks it),
# and each kind is also a policy object, so a rule may name it ("address") to cover
# every field of the kind. "none": not personal data (an amount, a court, a date).
NO_KIND = "none"
FIELD_KINDS = frozenset(
    {
        "person_name", "address", "mobile", "id_number", "card_number", "document_number",
        "free_text", NO_KIND,
    }
)
#: Kinds that identify or locate a person (every kind but free text and none).
PERSONAL_KINDS = FIELD_KINDS - {"free_text", NO_KIND}
# The kind a field of these types holds, always; other types say their own.
_TYPE_KINDS = {"person_name": "person_name", "address": "address", "mobile": "mobile",
               "id_number": "id_number", "bank_card": "card_number", "free_text": "free_text"}
# Types that never hold personal data: their kind is "none".
_IMPERSONAL_TYPES = frozenset({"date", "money", "enum", "org_name", "uscc"})
POLARITIES = frozenset({"negative", "positive", "neutral"})
PUBLIC = "public"
MARKET = "market"
PROVENANCES = frozenset({PUBLIC, MARKET})
#: The party kind that collects market information (licensed credit agencies).
MARKET_COLLECTOR_KIND = "credit_agency"
#: The party kind of market bodies: they may run yes/no checks and never read records.
MARKET_BODY_KIND = "market"
__all__ = ["FIELD_KINDS", "FIELD_TYPES", "NO_KIND", "PERSONAL_KINDS", "UNTIL_REMOVED",
           "Catalogue", "Category", "FieldSpec", "Group", "Party", "Purpose",
           "load_catalogue"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a category."""

    code: str
    type: str
    required: bool
    sensitive: bool
    max_chars: int
    #: The kind of personal data it holds (FIELD_KINDS).
    kind: str = NO_KIND
    #: The values an enum field may take (empty for other types).
    values: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Category:
    """A data category of the catalogue (e.g. dishonest_debtor 失信被执行人)."""

    code: str
    name: str
    name_zh: str
    providers: frozenset[str]
    polarity: str
    severities: frozenset[str]
    groups: tuple[str, ...]
    public: bool
    min_subject_age: int
    # Months of display per severity; None means until the provider removes the record.
    display_months: Mapping[str, int | None]
    fields: Mapping[str, FieldSpec]
    #: A date field the display period runs from when given (else the event date).
    display_from: str = ""
    #: When and by whom a record may be repaired; None: it cannot be.
    repair: RepairRule | None = None
    #: Severities the public feed may carry (empty: every severity of a public category).
    public_severities: frozenset[str] = frozenset()
    #: Published only while the person's agreement (publication_agreement) is in use.
    publish_with_agreement: bool = False
    #: Days from the decision within which the rules want it public (双公示); 0: none.
    publish_within_days: int = 0
    #: The same in working days (工作日, catalogue [working_calendar]); 0: none.
    publish_within_working_days: int = 0
    #: field -> categories a record id in it may cite ("*": any); see records/citations.
    cites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The cited record must also be the citing provider's own (a broken commitment
    #: cites a commitment the same department took).
    cites_own: bool = False
    #: The law or plan sentence that authorises collecting it (依法归集), for whoever asks.
    basis: str = ""
    #: field -> provider -> the values that provider may give it (its remit within the
    #: category, e.g. which honour lists an association may recommend for).
    remits: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    #: Where the information comes from: "public" (公共信用信息, public authorities) or
    #: "market" (市场信用信息, collected by licensed credit agencies).
    provenance: str = "public"

    def publishes(self, severity: str) -> bool:
        """Whether a record of this severity may appear in the public disclosure feed."""
        return self.public and (not self.public_severities or severity in self.public_severities)

    def object_name(self, field_code: str | None = None) -> str:
        """The policy object for the category or one of its fields ("cat" or "cat.field")."""
        return self.code if field_code is None else f"{self.code}.{field_code}"


@dataclass(frozen=True, slots=True)
class Purpose:
    """A purpose of use (e.g. cadre_selection 干部选拔任职)."""

    code: str
    name: str
    name_zh: str
    legal_basis: str
    consent_required: bool
    queryable: bool
    #: Days before a use for this purpose appears in the person's access report.
    disclosure_delay_days: int = 0
    #: 应查必查: a department must check credit before each decision for this purpose.
    mandatory_check: bool = False


@dataclass(frozen=True, slots=True)
class Party:
    """A registered party: the CN of its client certificate is its id."""

    id: str
    name: str
    name_zh: str
    kind: str
    roles: tuple[str, ...]
    consent_issuer: bool = False
    #: A county party's county (catalogue [counties]); "" for a city party.
    county: str = ""
    #: The city party whose rules and remit a county party holds within its county.
    counterpart: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A node of the category hierarchy (the policy's `g2`)."""

    code: str
    name: str
    name_zh: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """Everything the gateway knows about parties, data and purposes."""

    parties: Mapping[str, Party]
    categories: Mapping[str, Category]
    groups: Mapping[str, Group]
    purposes: Mapping[str, Purpose]
    severities: Mapping[str, tuple[str, str]]
    max_batch: int
    max_field_chars: int
    roles: frozenset[str] = field(default_factory=frozenset)
    #: Objection deadline, green channel, joint punishment measures, domains, occupations.
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)
    #: The city's counties (县区) records may belong to.
    counties: Mapping[str, County] = field(default_factory=dict)
    #: What goes to which peer and is accepted from which (policies/sharing.toml).
    sharing: Mapping[str, SharingRule] = field(default_factory=dict)

    @property
    def domains(self) -> Mapping[str, Term]:
        """The key domains (重点领域) records may be filed under."""
        return self.lifecycle.domains

    @property
    def occupations(self) -> Mapping[str, Term]:
        """The occupational groups (重点职业人群) records may be filed under."""
        return self.lifecycle.occupations

    @property
    def measures(self) -> Mapping[str, Measure]:
        """The joint punishment measures (联合惩戒措施)."""
        return self.lifecycle.measures

    @property
    def incentives(self) -> Mapping[str, Incentive]:
        """The incentive measures for the trustworthy (守信激励措施)."""
        return self.lifecycle.incentives

    def category(self, code: str) -> Category:
        """The category with this code; raises KeyError when unknown."""
        return self.categories[code]

    def hierarchy(self) -> list[tuple[str, str]]:
        """The `g2` edges (child, parent): field -> category -> groups -> parents."""
        edges: list[tuple[str, str]] = []
        for cat in self.categories.values():
            for fcode, spec in cat.fields.items():
                edges.append((cat.object_name(fcode), cat.code))
                if spec.kind != NO_KIND:
                    edges.append((cat.object_name(fcode), spec.kind))
            for group_code in cat.groups:
                edges.append((cat.code, group_code))
        for group in self.groups.values():
            for parent in group.parents:
                edges.append((group.code, parent))
        return edges

    def role_edges(self) -> list[tuple[str, str]]:
        """The `g` edges (party, role) from the party registry."""
        return ([(p.id, role) for p in self.parties.values() for role in p.roles]
                + county_role_edges(self.parties.values()))


_File = TypeVar("_File")


def _read(policies_dir: Path, name: str, into: type[_File]) -> _File:
    """A catalogue file read into its declared type; raises ConfigurationError naming the
    file and line of an unknown, missing or mistyped key."""
    doc, text = read_toml(policies_dir / name)
    return decode(doc, into, file=name, text=text)


def _parse_kind(spec: FieldTable, where: str) -> str:
    """A field's kind: one of FIELD_KINDS, and the one its type implies."""
    kind, ftype = spec.kind, spec.type
    if kind not in FIELD_KINDS:
        raise ConfigurationError(f"{where}: unknown kind '{kind}' (one of "
                                 f"{', '.join(sorted(FIELD_KINDS))})")
    implied = _TYPE_KINDS.get(ftype)
    if implied is not None and kind != implied:
        raise ConfigurationError(f"{where}: a {ftype} field is of kind '{implied}'")
    if ftype in _IMPERSONAL_TYPES and kind != NO_KIND:
        raise ConfigurationError(f"{where}: a {ftype} field is of kind '{NO_KIND}'")
    return kind


def _parse_values(spec: FieldTable, where: str) -> frozenset[str]:
    """An enum field's own values (empty: from [field_values]); refused for other types."""
    values = spec.values
    if spec.type != "enum":
        if values is not None:
            raise ConfigurationError(f"{where}: only an enum field lists values")
        return frozenset()
    if values is None:
        return frozenset()
    if not values or not all(v.strip() == v and v for v in values):
        raise ConfigurationError(f"{where}: an enum field lists its values "
                                 "(values = [\"...\", ...], non-empty texts)")
    return frozenset(values)


def _with_shared_values(categories: dict[str, Category],
                        shared: Mapping[str, frozenset[str]]) -> dict[str, Category]:
    """Enum fields without values of their own take [field_values]. One with neither
    keeps none, and intake then refuses any value it is given (fail closed)."""
    out: dict[str, Category] = {}
    for code, cat in categories.items():
        fields = dict(cat.fields)
        for fcode, spec in cat.fields.items():
            if spec.type != "enum" or spec.values:
                continue
            values = shared.get(fcode)
            if values:
                fields[fcode] = replace(spec, values=frozenset(values))
        out[code] = replace(cat, fields=fields) if fields != dict(cat.fields) else cat
    return out


def _parse_category(code: str, raw: CategoryTable) -> Category:
    where = f"catalogue.toml [categories.{code}]"
    fields: dict[str, FieldSpec] = {}
    for fcode, spec in raw.fields.items():
        if spec.type not in FIELD_TYPES:
            raise ConfigurationError(f"{where} field {fcode}: unknown type '{spec.type}'")
        fields[fcode] = FieldSpec(
            code=fcode,
            type=spec.type,
            required=spec.required,
            sensitive=spec.sensitive,
            max_chars=spec.max,
            kind=_parse_kind(spec, f"{where} field {fcode}"),
            values=_parse_values(spec, f"{where} field {fcode}"),
        )
        if fields[fcode].kind != NO_KIND and not fields[fcode].sensitive:
            raise ConfigurationError(f"{where} field {fcode}: a field of kind "
                                     f"'{fields[fcode].kind}' holds personal data and must "
                                     "be sensitive = true (stored only encrypted)")
    if raw.polarity not in POLARITIES:
        raise ConfigurationError(f"{where}: polarity must be one of {sorted(POLARITIES)}")
    for key in ("publish_within_days", "publish_within_working_days"):
        if getattr(raw, key) and not raw.public:
            raise ConfigurationError(f"{where}: {key} is for a public category")
    if raw.publish_within_days and raw.publish_within_working_days:
        raise ConfigurationError(f"{where}: give the legal time once, in days or in "
                                 "working days")
    if raw.provenance not in PROVENANCES:
        raise ConfigurationError(f"{where}: provenance must be one of {sorted(PROVENANCES)}")
    return Category(
        code=code,
        name=raw.name,
        name_zh=raw.name_zh,
        providers=frozenset(raw.providers),
        polarity=raw.polarity,
        severities=frozenset(raw.severities),
        groups=raw.groups,
        public=raw.public,
        min_subject_age=raw.min_subject_age,
        public_severities=frozenset(raw.public_severities),
        display_months={sev: None if months == UNTIL_REMOVED else int(months)
                        for sev, months in raw.display.items()},
        fields=fields,
        display_from=raw.display_from,
        repair=parse_repair(raw.repair),
        publish_with_agreement=raw.publish_with_agreement,
        publish_within_days=raw.publish_within_days,
        publish_within_working_days=raw.publish_within_working_days,
        cites=dict(raw.cites),
        cites_own=raw.cites_own,
        basis=raw.basis,
        remits={fcode: {provider: frozenset(values) for provider, values in by.items()}
                for fcode, by in raw.remits.items()},
        provenance=raw.provenance,
    )


def _check_provenance(categories: Mapping[str, Category], parties: Mapping[str, Party]) -> None:
    """Market information comes only from credit agencies, and they provide nothing else:
    the mark a query shows is the category's, so it cannot be wrong for one record."""
    for cat in categories.values():
        for provider in cat.providers:
            collector = parties[provider].kind == MARKET_COLLECTOR_KIND
            if collector != (cat.provenance == MARKET):
                raise ConfigurationError(
                    f"category {cat.code}: provider '{provider}' of kind "
                    f"'{parties[provider].kind}' cannot provide {cat.provenance} information "
                    f"(market information comes from {MARKET_COLLECTOR_KIND} parties only)")


def load_catalogue(policies_dir: Path) -> Catalogue:
    """Read parties.toml, purposes.toml and catalogue.toml; raises ConfigurationError."""
    try:
        return _load_catalogue(policies_dir)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A table of the wrong shape (a string where a table belongs, a missing section).
        raise ConfigurationError(
            f"catalogue files have an unexpected structure: {type(exc).__name__} {exc}"
        ) from None


def _load_catalogue(policies_dir: Path) -> Catalogue:
    cat_raw = _read(policies_dir, "catalogue.toml", CatalogueFile)
    parties_raw = _read(policies_dir, "parties.toml", PartiesFile).parties
    purposes_raw = _read(policies_dir, "purposes.toml", PurposesFile).purposes

    parties = {
        pid: Party(id=pid, name=p.name, name_zh=p.name_zh, kind=p.kind, roles=p.roles,
                   consent_issuer=p.consent_issuer, county=p.county,
                   counterpart=p.counterpart)
        for pid, p in parties_raw.items()
    }
    purposes = {
        code: Purpose(code=code, name=p.name, name_zh=p.name_zh, legal_basis=p.legal_basis,
                      consent_required=p.consent_required, queryable=p.query,
                      disclosure_delay_days=p.disclosure_delay_days,
                      mandatory_check=p.mandatory_check)
        for code, p in purposes_raw.items()
    }
    severities = {code: (s.name, s.name_zh) for code, s in cat_raw.severities.items()}
    groups = {code: Group(code=code, name=g.name, name_zh=g.name_zh, parents=g.parents)
              for code, g in cat_raw.groups.items()}
    categories = {code: _parse_category(code, c) for code, c in cat_raw.categories.items()}

    for cat in categories.values():
        for provider in cat.providers:
            if provider not in parties:
                raise ConfigurationError(f"category {cat.code}: unknown provider '{provider}'")
        for grp in cat.groups:
            if grp not in groups:
                raise ConfigurationError(f"category {cat.code}: unknown group '{grp}'")
        for sev in cat.severities | set(cat.display_months):
            if sev not in severities:
                raise ConfigurationError(f"category {cat.code}: unknown severity '{sev}'")
        for fcode, by_provider in cat.remits.items():
            if fcode not in cat.fields:
                raise ConfigurationError(f"category {cat.code}: remits name unknown field "
                                         f"'{fcode}'")
            if set(by_provider) != set(cat.providers):
                raise ConfigurationError(f"category {cat.code}: remits.{fcode} must name "
                                         "exactly the category's providers")
        for fcode, cited in cat.cites.items():
            if fcode not in cat.fields or cat.fields[fcode].sensitive:
                raise ConfigurationError(f"category {cat.code}: cites names '{fcode}', "
                                         "which is not a field kept in clear")
            if not cited or any(c != "*" and c not in categories for c in cited):
                raise ConfigurationError(f"category {cat.code}: cites.{fcode} names an "
                                         "unknown category")
        if cat.cites_own and not cat.cites:
            raise ConfigurationError(f"category {cat.code}: cites_own without cites")
        missing = cat.severities - set(cat.display_months)
        if missing:
            raise ConfigurationError(
                f"category {cat.code}: no display rule for {sorted(missing)}")
    for group in groups.values():
        for parent in group.parents:
            if parent not in groups:
                raise ConfigurationError(f"group {group.code}: unknown parent '{parent}'")
    # Kinds are policy objects too (a rule on "address" covers every address field).
    clash = set(categories) & (set(groups) | set(parties) | FIELD_KINDS)
    clash |= set(cat_raw.counties) & (set(categories) | set(groups) | FIELD_KINDS
                                                | {r for p in parties.values() for r in p.roles})
    clash |= set(groups) & FIELD_KINDS
    if clash:
        raise ConfigurationError(f"codes used twice: {sorted(clash)}")
    # Policy names a field "category.field": a dotted category or group code would be
    # read as a field of another category and inherit that field's rules.
    dotted = sorted(c for c in (*categories, *groups) if "." in c)
    dotted += sorted(f"{c.code}.{f}" for c in categories.values() for f in c.fields if "." in f)
    if dotted:
        raise ConfigurationError(f"category, group and field codes may not hold '.': "
                                 f"{dotted}")
    lifecycle = parse_lifecycle(cat_raw)
    categories = _with_shared_values(categories, lifecycle.field_values)
    counties = parse_counties(cat_raw.counties)
    check_county_parties(parties, counties)
    _check_provenance(categories, parties)
    categories = with_county_providers(categories, parties)
    check_lifecycle(lifecycle, categories=categories, parties=parties, purposes=purposes,
                    severities=severities)
    check_incentives(lifecycle.incentives, categories=categories, parties=parties,
                     purposes=purposes)

    return Catalogue(
        parties=parties,
        categories=categories,
        groups=groups,
        purposes=purposes,
        severities=severities,
        max_batch=cat_raw.max_batch,
        max_field_chars=cat_raw.max_field_chars,
        # A county code is a role every party of the county holds (county-scoped rules).
        roles=frozenset(r for p in parties.values() for r in p.roles) | set(counties),
        lifecycle=lifecycle,
        counties=counties,
        sharing=load_sharing(policies_dir, parties=parties, categories=categories,
                             purposes=purposes),
    )
