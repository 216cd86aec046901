"""The declared shape of the catalogue's policy files: catalogue.toml, parties.toml,
purposes.toml and sharing.toml (the other files declare theirs where they are read:
limits.toml in gateway.policy.limits, monitoring.toml in gateway.monitoring.rules,
masking.toml in gateway.protect.profiles, the test cases in gateway.policy.testing and
quota_cases, data-keys.toml in gateway.crypto.keyring).

A misspelt key (``publc = true``) would otherwise be read as absent and its default
applied silently (a category meant to stay off the public feed, a purpose meant to need
consent), so each file is read into these types (gateway.strict_toml), which refuse an
unknown key, a missing required one and a value of the wrong type with the file, line
and key path (``catalogue.toml:212: unknown key categories.x.publc``); ``policy
validate`` reports it like its other errors. A key's default is written here once;
names and codes that refer to other tables are checked where the catalogue is built
(registry.py), as they need the other files.

Required keys come first in each table (msgspec's rule for positional fields).
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.strict_toml import Table, key_line

__all__ = ["BEHAVIOURS", "UNTIL_REMOVED", "CatalogueFile", "CategoryTable", "CountyTable",
           "FieldTable", "GreenChannelTable", "IncentiveTable", "MeasureTable", "PartiesFile",
           "PartyTable", "PurposeTable", "PurposesFile", "ReasonTable", "RepairTable",
           "SharingFile", "SharingTable", "WorkingCalendarTable", "key_line"]

UNTIL_REMOVED = "until_removed"
#: `[field_values]` may name this catalogue table instead of listing codes.
BEHAVIOURS = "behaviours"

#: A text that must say something (a name, a legal basis).
Text = Annotated[str, Meta(min_length=1)]
Codes = tuple[str, ...]
#: A list that must name at least one code.
SomeCodes = Annotated[tuple[str, ...], Meta(min_length=1, description="a non-empty array")]
Days = Annotated[int, Meta(ge=1, le=365, description="a whole number of days, 1 to 365")]
Count = Annotated[int, Meta(ge=0, description="a whole number >= 0")]
Months = Annotated[int, Meta(ge=0, description="a whole number of months >= 0")]
#: A legal time to publish within (双公示); 0: none.
LegalDays = Annotated[int, Meta(ge=0, le=365, description="a whole number of days, 0 to 365")]
#: Months of display, or until the provider removes the record.
Display = Annotated[Annotated[int, Meta(gt=0)] | Literal["until_removed"],
                    Meta(description=f'a whole number of months >= 1 or "{UNTIL_REMOVED}"')]


class Named(Table):
    """A code's names: severities, domains, occupations."""

    name: Text
    name_zh: Text


class GroupTable(Table):
    """A node of the category hierarchy."""

    name: Text
    name_zh: Text
    parents: Codes = ()


class CountyTable(Table):
    """A county (counties.py)."""

    name: Text
    name_zh: Text
    division: Annotated[str, Meta(pattern=r"^[1-9][0-9]{5}$",
                                  description="a 6-digit GB/T 2260 code")]


class BehaviourTable(Table):
    """A coded dishonest behaviour (vocabulary.py)."""

    name: Text
    name_zh: Text
    key_supervision: bool = False


class ReasonTable(Table):
    """A reason code a department gives for a change to its own record (rules.py)."""

    name: Text
    name_zh: Text
    basis: Text


class GreenChannelTable(Table):
    """Who earns the green channel (rules.py)."""

    purpose: str
    clean_years: Annotated[int, Meta(ge=1, description="a whole number of years >= 1")]
    positive_unless: Codes = ()


class IncentiveTable(Table):
    """An incentive measure (incentives.py)."""

    name: Text
    name_zh: Text
    basis: Text
    authority: Text
    purpose: Text
    categories: SomeCodes
    area_zh: str = ""
    clean_years: Annotated[int, Meta(ge=1, description="a whole number of years >= 1")] = 3
    min_records: Annotated[int, Meta(ge=1, description="a whole number >= 1")] = 1


class MeasureTable(Table):
    """A joint punishment measure (rules.py)."""

    name: str
    name_zh: str
    categories: Codes
    authority: str
    severities: Codes = ("serious",)
    basis: str = ""
    purpose: str = "joint_punishment"
    behaviours: Codes = ()


class RepairTable(Table):
    """When a record of a category may be repaired, and who decides (rules.py)."""

    after_months: dict[str, Months]
    approver: str = "provider"


class FieldTable(Table):
    """One field of a category."""

    type: str
    kind: str
    required: bool = False
    sensitive: bool = True  # unknown sensitivity: encrypt
    max: Annotated[int, Meta(ge=1, description="a whole number of characters >= 1")] = 4000
    values: tuple[str, ...] | None = None


class CategoryTable(Table):
    """A data category (registry.Category)."""

    name: str
    name_zh: str
    providers: Codes
    polarity: str
    severities: Codes
    display: dict[str, Display]
    fields: dict[str, FieldTable]
    groups: Codes = ()
    public: bool = False
    min_subject_age: Count = 0
    public_severities: Codes = ()
    display_from: str = ""
    repair: RepairTable | None = None
    publish_with_agreement: bool = False
    publish_within_days: LegalDays = 0
    publish_within_working_days: LegalDays = 0
    cites: dict[str, Codes] = field(default_factory=dict)
    cites_own: bool = False
    basis: str = ""
    remits: dict[str, dict[str, SomeCodes]] = field(default_factory=dict)
    provenance: str = "public"


class WorkingCalendarTable(Table):
    """Statutory days off and make-up working days (calendar.py checks the dates)."""

    days_off: list[Annotated[str, Meta(description='a date "YYYY-MM-DD" or a range '
                                                   '"YYYY-MM-DD..YYYY-MM-DD"')]] = \
        field(default_factory=list)
    working_weekends: list[Annotated[str, Meta(description='a date "YYYY-MM-DD"')]] = \
        field(default_factory=list)


class CatalogueFile(Table):
    """catalogue.toml."""

    categories: dict[str, CategoryTable]
    max_batch: Annotated[int, Meta(ge=1, description="a whole number >= 1")] = 500
    max_field_chars: Annotated[int, Meta(ge=1, description="a whole number >= 1")] = 4000
    objection_answer_days: Days = 20
    complaint_answer_days: Days = 30
    repair_evidence: Codes = ()
    severities: dict[str, Named] = field(default_factory=dict)
    groups: dict[str, GroupTable] = field(default_factory=dict)
    domains: dict[str, Named] = field(default_factory=dict)
    occupations: dict[str, Named] = field(default_factory=dict)
    counties: dict[str, CountyTable] = field(default_factory=dict)
    behaviours: dict[str, BehaviourTable] = field(default_factory=dict)
    field_values: dict[str, SomeCodes | Literal["behaviours"]] = field(default_factory=dict)
    working_calendar: WorkingCalendarTable | None = None
    revision_reasons: dict[str, ReasonTable] = field(default_factory=dict)
    green_channel: GreenChannelTable | None = None
    incentives: dict[str, IncentiveTable] = field(default_factory=dict)
    measures: dict[str, MeasureTable] = field(default_factory=dict)


class PartyTable(Table):
    """A registered party (registry.Party)."""

    name: str
    name_zh: str
    kind: str
    roles: Codes = ()
    consent_issuer: bool = False
    county: str = ""
    counterpart: str = ""


class PartiesFile(Table):
    """parties.toml."""

    parties: dict[str, PartyTable]


class PurposeTable(Table):
    """A purpose of use (registry.Purpose)."""

    name: str
    name_zh: str
    legal_basis: str
    consent_required: bool
    query: bool = True
    disclosure_delay_days: Count = 0
    mandatory_check: bool = False


class PurposesFile(Table):
    """purposes.toml."""

    purposes: dict[str, PurposeTable]


class SharingTable(Table):
    """What one peer gets and gives (sharing.py)."""

    name: str = ""
    name_zh: str = ""
    purpose: str = "platform_sharing"
    send: dict[str, str] = field(default_factory=dict)
    receive: Codes = ()


class SharingFile(Table):
    """sharing.toml."""

    sharing: dict[str, SharingTable] = field(default_factory=dict)
