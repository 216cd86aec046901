"""Minimal-disclosure checks: a yes or no computed from records that never leave.

`green_channel_eligible` answers the catalogue's green channel rule (容缺受理) and
`measure_applies` whether a joint punishment measure (联合惩戒) restricts the person,
`incentive_eligible` whether an incentive measure (守信激励) rewards them.
Both count only records in use (the live version, within its display period, not
repaired, withdrawn or removed), exactly as a query would show them. The green channel
and incentives are public decisions: they read public credit information only, never
the market information credit agencies collect (a measure may name such a category).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from gateway.catalogue.incentives import Incentive
from gateway.catalogue.registry import PUBLIC, Catalogue
from gateway.catalogue.rules import GreenChannelRule, Measure
from gateway.records.display import add_months
from gateway.records.lifecycle import conduct_date, in_use
from gateway.records.model import StoredRecord

NEGATIVE, POSITIVE = "negative", "positive"
#: The field that carries a coded behaviour (catalogue [behaviours]); never sensitive.
BEHAVIOUR_FIELD = "behaviour"


def green_channel_categories(catalogue: Catalogue) -> tuple[str, ...]:
    """The categories the green channel rule reads: every negative and positive one of
    public credit information."""
    return tuple(c.code for c in catalogue.categories.values()
                 if c.polarity in (NEGATIVE, POSITIVE) and c.provenance == PUBLIC)


def green_channel_eligible(rule: GreenChannelRule, catalogue: Catalogue,
                           records: Iterable[StoredRecord], today: date) -> bool:
    """Whether the person earns the green channel under `rule` on `today`.

    Eligible when no negative record in use stems from conduct after the look-back
    cut-off (an open-ended record, such as a court listing, is always recent), or, when
    the rule lets positive records count, with a positive record in use and no negative
    record in use of a blocking severity.
    """
    used = [r for r in records if in_use(r, today)]
    negative = [r for r in used if catalogue.categories[r.category].polarity == NEGATIVE]
    positive = [r for r in used if catalogue.categories[r.category].polarity == POSITIVE]
    cutoff = add_months(today, -12 * rule.clean_years)
    recent = [r for r in negative
              if r.display_end is None or conduct_date(catalogue.categories[r.category], r)
              > cutoff]
    if not recent:
        return True
    return (rule.positive_counts and bool(positive)
            and not any(r.severity in rule.positive_unless for r in negative))


def measure_applies(measure: Measure, records: Iterable[StoredRecord], today: date) -> bool:
    """Whether a record in use triggers the measure (its categories, at its severities,
    and, for a measure bound to behaviours, carrying one of them)."""
    return any(in_use(r, today) and r.category in measure.categories
               and r.severity in measure.severities
               and (not measure.behaviours or _behaviour(r) in measure.behaviours)
               for r in records)


def _behaviour(record: StoredRecord) -> str:
    stored = record.fields.get(BEHAVIOUR_FIELD)
    return stored.plain or "" if stored is not None else ""


def incentive_categories(incentive: Incentive, catalogue: Catalogue
                         ) -> tuple[str, ...]:
    """The categories the check reads: the qualifying ones and every negative one of
    public credit information."""
    negative = [c.code for c in catalogue.categories.values()
                if c.polarity == NEGATIVE and c.provenance == PUBLIC]
    return tuple(dict.fromkeys([*incentive.categories, *negative]))


def incentive_eligible(incentive: Incentive, catalogue: Catalogue,
                       records: Iterable[StoredRecord], today: date) -> bool:
    """Whether the person qualifies today: enough qualifying records in use, and no
    negative record in use from conduct after the look-back cut-off."""
    used = [r for r in records if in_use(r, today)]
    qualifying = sum(1 for r in used if r.category in incentive.categories)
    if qualifying < incentive.min_records:
        return False
    cutoff = add_months(today, -12 * incentive.clean_years)
    return not any(
        catalogue.categories[r.category].polarity == NEGATIVE
        and (r.display_end is None or conduct_date(catalogue.categories[r.category], r) > cutoff)
        for r in used)
