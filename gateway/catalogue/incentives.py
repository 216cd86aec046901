"""Incentive measures for the trustworthy (守信激励措施) and who qualifies for them.

The catalogue's `[incentives.<code>]` tables sit beside the joint punishment measures:
each names its legal basis, the authority that grants it, the purpose an
IncentiveEligibility check is bound to, the positive categories that qualify a person
and the clean-record rule (no negative record in use from conduct in the last N years;
an open-ended record, such as a court listing not yet removed, always counts as recent).
The check answers yes or no with the measure and the rule, never the records
(gateway.records.checks.incentive_eligible).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalogue.policy_keys import IncentiveTable
from gateway.errors import ConfigurationError

POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Incentive:
    """An incentive measure and the rule that qualifies a person for it."""

    code: str
    name: str
    name_zh: str
    #: The plan's field of support (教育培训, 就业创业, 社会保障, 融资租赁, ...).
    area_zh: str
    basis: str
    #: The party that grants the measure.
    authority: str
    #: The purpose an IncentiveEligibility check for it must state.
    purpose: str
    #: Positive categories that qualify a person (at least `min_records` in use).
    categories: tuple[str, ...]
    clean_years: int
    min_records: int = 1

    def text_zh(self) -> str:
        """The rule in words, as the answer states it."""
        return (f"有守信记录（至少{self.min_records}条）且近{self.clean_years}年无失信记录")

    def text(self) -> str:
        """The rule in English words."""
        return (f"at least {self.min_records} positive record(s) of "
                f"{'/'.join(self.categories)} and no negative record from the last "
                f"{self.clean_years} years")


def parse_incentives(tables: Mapping[str, IncentiveTable]) -> dict[str, Incentive]:
    """The `[incentives]` tables of catalogue.toml (names are checked by check_incentives)."""
    return {code: Incentive(code=code, name=t.name, name_zh=t.name_zh, area_zh=t.area_zh,
                            basis=t.basis, authority=t.authority, purpose=t.purpose,
                            categories=t.categories, clean_years=t.clean_years,
                            min_records=t.min_records)
            for code, t in tables.items()}


def check_incentives(incentives: Mapping[str, Incentive], *, categories: Mapping[str, Any],
                     parties: Mapping[str, Any], purposes: Mapping[str, Any]) -> None:
    """Every name an incentive uses must exist and fit; raises ConfigurationError."""
    for inc in incentives.values():
        where = f"incentive {inc.code}"
        if inc.authority not in parties:
            raise ConfigurationError(f"{where}: unknown authority '{inc.authority}'")
        purpose = purposes.get(inc.purpose)
        if purpose is None or not purpose.queryable:
            raise ConfigurationError(f"{where}: '{inc.purpose}' is not a query purpose")
        for code in inc.categories:
            cat = categories.get(code)
            if cat is None:
                raise ConfigurationError(f"{where}: unknown category '{code}'")
            if cat.polarity != POSITIVE:
                raise ConfigurationError(f"{where}: '{code}' is not a positive category")
