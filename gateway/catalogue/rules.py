"""The record-lifecycle rules of the catalogue: repair, checks, domains, occupations.

These sections of policies/catalogue.toml say how long a person must wait before
applying for credit repair (信用修复) and who decides it, what earns the green channel
(容缺受理), which records trigger each joint punishment measure (联合惩戒) and who
decides it, how many days a department has to answer an objection (异议), and the key
domains (重点领域) and occupational groups (重点职业人群) records are filed under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.catalogue.calendar import WorkingCalendar, parse_working_calendar
from gateway.catalogue.incentives import Incentive, parse_incentives
from gateway.catalogue.policy_keys import CatalogueFile, Named, RepairTable
from gateway.catalogue.vocabulary import Behaviour, parse_behaviours, parse_field_values
from gateway.errors import ConfigurationError

#: The approver value meaning "the department that provided the record".
PROVIDER = "provider"
DEFAULT_OBJECTION_ANSWER_DAYS = 20


@dataclass(frozen=True, slots=True)
class Term:
    """One entry of a catalogue enumeration (a key domain or an occupational group)."""

    code: str
    name: str
    name_zh: str


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A reason a department gives for changing its own record, with its legal basis."""

    code: str
    name: str
    name_zh: str
    basis: str


@dataclass(frozen=True, slots=True)
class RepairRule:
    """When a record of a category may be repaired, and who decides."""

    #: Months of display, per severity, before the person may apply (the minimum
    #: display period); a severity not listed cannot be repaired.
    after_months: Mapping[str, int]
    #: A party id, or "provider" for the department that provided the record.
    approver: str = PROVIDER

    def approver_for(self, provider: str) -> str:
        """The party that decides a repair of a record from `provider`."""
        return provider if self.approver == PROVIDER else self.approver


@dataclass(frozen=True, slots=True)
class Measure:
    """A joint punishment measure and the records that trigger it."""

    code: str
    name: str
    name_zh: str
    categories: tuple[str, ...]
    severities: frozenset[str]
    #: The party that decides the restriction (a court, the market regulator...).
    authority: str
    basis: str = ""
    #: The purpose a check of the measure states (key supervision has its own).
    purpose: str = "joint_punishment"
    #: When set, only records carrying one of these behaviour codes trigger the measure.
    behaviours: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class GreenChannelRule:
    """Who earns the green channel (容缺受理) in administrative licensing."""

    purpose: str
    #: Eligible when no negative record in use stems from conduct in the last N years...
    clean_years: int
    #: ...or when the person has a positive record in use and no negative record in use
    #: of one of these severities (empty: positive records do not count).
    positive_unless: frozenset[str] = frozenset()
    code: str = "green_channel"

    @property
    def positive_counts(self) -> bool:
        """Whether a positive record can earn the green channel."""
        return bool(self.positive_unless)

    def text_zh(self) -> str:
        """The rule in words, as the answer states it."""
        text = f"近{self.clean_years}年无失信记录"
        if self.positive_counts:
            text += "，或有守信记录且无严重失信记录"
        return text

    def text(self) -> str:
        """The rule in English words."""
        text = f"no negative record from the last {self.clean_years} years"
        if self.positive_counts:
            text += (", or a positive record and no negative record of severity "
                     + "/".join(sorted(self.positive_unless)))
        return text


@dataclass(frozen=True)
class LifecycleRules:
    """Everything lifecycle-related the catalogue holds besides the categories."""

    objection_answer_days: int = DEFAULT_OBJECTION_ANSWER_DAYS
    #: Days the regulator has to answer a complaint about an access (投诉).
    complaint_answer_days: int = 30
    #: Positive categories a repair application may cite by id (修复佐证).
    repair_evidence: tuple[str, ...] = ()
    green_channel: GreenChannelRule | None = None
    measures: Mapping[str, Measure] = field(default_factory=dict)
    #: The incentive measures for the trustworthy (守信激励).
    incentives: Mapping[str, Incentive] = field(default_factory=dict)
    #: Coded dishonest behaviours and the allowed codes of some fields.
    behaviours: Mapping[str, Behaviour] = field(default_factory=dict)
    field_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    domains: Mapping[str, Term] = field(default_factory=dict)
    occupations: Mapping[str, Term] = field(default_factory=dict)
    #: Statutory days off and make-up working days, for deadlines in working days.
    working_calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    #: Why a department may correct or withdraw its own record (ReviseRecord); a
    #: catalogue without them lets no record be revised.
    revision_reasons: Mapping[str, ReasonCode] = field(default_factory=dict)


def parse_repair(raw: RepairTable | None) -> RepairRule | None:
    """The `repair` table of a category (None when the category cannot be repaired)."""
    if raw is None:
        return None
    return RepairRule(after_months=dict(raw.after_months), approver=raw.approver)


def _terms(raw: Mapping[str, Named]) -> dict[str, Term]:
    return {code: Term(code=code, name=entry.name, name_zh=entry.name_zh)
            for code, entry in raw.items()}


def parse_lifecycle(raw: CatalogueFile) -> LifecycleRules:
    """The lifecycle sections of catalogue.toml (names are checked by `check_lifecycle`)."""
    green = None
    if (g := raw.green_channel) is not None:
        green = GreenChannelRule(purpose=g.purpose, clean_years=g.clean_years,
                                 positive_unless=frozenset(g.positive_unless))
    measures = {
        code: Measure(code=code, name=m.name, name_zh=m.name_zh, categories=m.categories,
                      severities=frozenset(m.severities), authority=m.authority,
                      basis=m.basis, purpose=m.purpose, behaviours=frozenset(m.behaviours))
        for code, m in raw.measures.items()}
    behaviours = parse_behaviours(raw.behaviours)
    return LifecycleRules(objection_answer_days=raw.objection_answer_days,
                          green_channel=green, measures=measures,
                          complaint_answer_days=raw.complaint_answer_days,
                          repair_evidence=raw.repair_evidence,
                          incentives=parse_incentives(raw.incentives),
                          behaviours=behaviours,
                          field_values=parse_field_values(raw.field_values, behaviours),
                          domains=_terms(raw.domains), occupations=_terms(raw.occupations),
                          revision_reasons={
                              code: ReasonCode(code=code, name=r.name, name_zh=r.name_zh,
                                               basis=r.basis)
                              for code, r in raw.revision_reasons.items()},
                          working_calendar=parse_working_calendar(
                              None if raw.working_calendar is None
                              else msgspec.structs.asdict(raw.working_calendar)))


def check_lifecycle(rules: LifecycleRules, *, categories: Mapping[str, Any],
                    parties: Mapping[str, Any], purposes: Mapping[str, Any],
                    severities: Mapping[str, Any]) -> None:
    """Every name the lifecycle rules use must exist; raises ConfigurationError."""
    green = rules.green_channel
    if green is not None:
        purpose = purposes.get(green.purpose)
        if purpose is None or not purpose.queryable or purpose.consent_required:
            raise ConfigurationError(f"green_channel: '{green.purpose}' is not a query purpose "
                                     "without consent (the check has no consent step)")
        for sev in green.positive_unless:
            if sev not in severities:
                raise ConfigurationError(f"green_channel: unknown severity '{sev}'")
    for m in rules.measures.values():
        if m.authority not in parties:
            raise ConfigurationError(f"measure {m.code}: unknown authority '{m.authority}'")
        if not m.categories:
            raise ConfigurationError(f"measure {m.code}: names no category")
        for code in m.categories:
            if code not in categories:
                raise ConfigurationError(f"measure {m.code}: unknown category '{code}'")
        for sev in m.severities:
            if sev not in severities:
                raise ConfigurationError(f"measure {m.code}: unknown severity '{sev}'")
        purpose = purposes.get(m.purpose)
        if purpose is None or not purpose.queryable or purpose.consent_required:
            raise ConfigurationError(f"measure {m.code}: '{m.purpose}' is not a query "
                                     "purpose without consent")
        for code in m.behaviours:
            if code not in rules.behaviours:
                raise ConfigurationError(f"measure {m.code}: unknown behaviour '{code}'")
    for code in rules.repair_evidence:
        if code not in categories or categories[code].polarity != "positive":
            raise ConfigurationError(f"repair_evidence: '{code}' is not a positive category")
    for cat in categories.values():
        repair = cat.repair
        if repair is None:
            continue
        if repair.approver != PROVIDER and repair.approver not in parties:
            raise ConfigurationError(
                f"category {cat.code}: unknown repair approver '{repair.approver}'")
        for sev, months in repair.after_months.items():
            if sev not in cat.severities:
                raise ConfigurationError(f"category {cat.code}: repair names severity "
                                         f"'{sev}' the category does not have")
            limit = cat.display_months.get(sev)
            if limit is not None and months >= limit:
                raise ConfigurationError(f"category {cat.code}: repair after {months} months "
                                         f"but display of '{sev}' ends after {limit}")
        if cat.polarity != "negative":
            raise ConfigurationError(f"category {cat.code}: only negative records are repaired")
    for cat in categories.values():
        if cat.display_from and (cat.display_from not in cat.fields
                                 or cat.fields[cat.display_from].type != "date"):
            raise ConfigurationError(
                f"category {cat.code}: display_from must name a date field")
