"""Supervision figures for the lead department, from the record store and the audit log.

Per providing department: how many records it submitted, how late (days from the event
date to the submission: median and maximum), how many objections to its records are
open and how many of those are overdue. Per querying party and purpose: how many
queries and checks it made and how many were refused. Everything is counted from blind
indexes and audit entries; no ID number is needed or read. Per county (县区): the
records that belong to it (submitted, in use, under objection) and the queries and
checks of its parties.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from gateway.audit.entry import AuditEntry
from gateway.audit.search import MAX_PAGE, AuditFilter, AuditSearch
from gateway.catalogue.calendar import WorkingCalendar
from gateway.catalogue.registry import Catalogue, Category
from gateway.clock import local_date, parse_rfc3339
from gateway.records.complaints import ReadEntry, complaint_statuses
from gateway.records.display import is_displayable
from gateway.records.lifecycle import ACTIVE
from gateway.records.lifecycle_rows import OPEN
from gateway.records.objections import is_overdue
from gateway.records.store import RecordStore
from gateway.supervision.mandatory_checks import (
    DECLARE_ACTION,
    MandatoryCheckFigures,
    MandatoryChecks,
)

#: Audit actions that read a person's records: queries and minimal-disclosure checks.
QUERY_ACTIONS = ("query.subject", "check.green_channel", "check.joint_punishment",
                 "check.incentive")
#: The audit action of a repair decision; its reason ends with the verdict.
REPAIR_DECISION = "repair.decide"
_MAX_OBJECTIONS = 10_000_000


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    """One providing department's submissions and objections."""

    provider: str
    name_zh: str
    submitted: int
    median_lag_days: float | None
    max_lag_days: int | None
    open_objections: int
    overdue_objections: int
    #: Credit repairs (信用修复) the party decided: granted and refused.
    repairs_granted: int = 0
    repairs_refused: int = 0
    #: 双公示: records of a category the rules want public within a legal time of the
    #: decision (catalogue publish_within_working_days or publish_within_days) that
    #: reached the gateway later than that.
    published_late: int = 0


@dataclass(frozen=True, slots=True)
class QuerierFigures:
    """One party's queries and checks for one purpose."""

    party: str
    name_zh: str
    purpose: str
    queries: int
    refused: int
    #: Complaints (投诉) about this party's accesses (any purpose): filed, answered,
    #: unanswered past their due date. Counted on the party's first purpose row only.
    complaints: int = 0
    complaints_answered: int = 0
    complaints_overdue: int = 0


@dataclass(frozen=True, slots=True)
class CountyFigures:
    """One county's records and its parties' queries."""

    county: str
    name_zh: str
    #: Original submissions (corrections not counted again) of records of the county.
    submitted: int
    in_use: int
    open_objections: int
    #: Queries and checks made by the county's parties, and how many were refused.
    queries: int
    refused: int


@dataclass(frozen=True)
class SupervisionReport:
    """The figures as of one day."""

    as_of: date
    providers: tuple[ProviderFigures, ...]
    queriers: tuple[QuerierFigures, ...]
    counties: tuple[CountyFigures, ...] = ()
    #: 应查必查: mandatory checks per department, purpose and month, beside the
    #: decisions the department declared (gateway.supervision.mandatory_checks).
    mandatory_checks: tuple[MandatoryCheckFigures, ...] = ()


def county_figures(store: RecordStore, catalogue: Catalogue,
                   queriers: Iterable[QuerierFigures], today: date
                   ) -> tuple[CountyFigures, ...]:
    """Every county of the catalogue, with its records and its parties' queries."""
    submitted: Counter[str] = Counter()
    used: Counter[str] = Counter()
    disputed: Counter[str] = Counter()
    for row in store.county_records():
        submitted[row.county] += not row.replaces
        used[row.county] += row.state == ACTIVE and is_displayable(row.display_end, today)
        disputed[row.county] += row.disputed
    queries: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for q in queriers:
        party = catalogue.parties.get(q.party)
        if party is not None and party.county:
            queries[party.county] += q.queries
            refused[party.county] += q.refused
    return tuple(CountyFigures(county=c.code, name_zh=c.name_zh, submitted=submitted[c.code],
                               in_use=used[c.code], open_objections=disputed[c.code],
                               queries=queries[c.code], refused=refused[c.code])
                 for c in catalogue.counties.values())


def _entries(audit: AuditSearch, action: str) -> Iterator[AuditEntry]:
    token = ""
    while True:
        page = audit.search(AuditFilter(action=action), page_token=token, page_size=MAX_PAGE)
        yield from (entry for _, entry in page.entries)
        token = page.next_token
        if not token:
            return


def _audit_reader(audit: AuditSearch) -> Callable[..., list[tuple[int, AuditEntry]]]:
    """A log reader over the search index, for the complaints' audit entries."""
    def read(*, start: int, limit: int) -> list[tuple[int, AuditEntry]]:
        return [(start, audit.entry(start)[0])]
    return read


def published_late(category: Category, decided: date, submitted: date,
                   calendar: WorkingCalendar) -> bool:
    """Whether a record decided on one day and submitted on another (city dates) came
    after its category's legal publication time (双公示), in working or calendar days."""
    if category.publish_within_working_days:
        return (calendar.working_days_after(decided, submitted)
                > category.publish_within_working_days)
    if category.publish_within_days:
        return (submitted - decided).days > category.publish_within_days
    return False


def _late_publications(store: RecordStore, catalogue: Catalogue | None) -> Counter[str]:
    """Per provider, original submissions of categories with a legal publication time
    that came in after it (the submission's city date against the decision's)."""
    late: Counter[str] = Counter()
    if catalogue is None:
        return late
    timed = sorted(c.code for c in catalogue.categories.values()
                   if c.publish_within_days or c.publish_within_working_days)
    calendar = catalogue.lifecycle.working_calendar
    # Original submissions in any state: a correction is not a late first publication,
    # and a late one stays late once the record is corrected, repaired or removed.
    for provider, category, submitted_at, decided in store.publication_times(timed):
        submitted = local_date(parse_rfc3339(submitted_at))
        late[provider] += published_late(catalogue.categories[category], decided, submitted,
                                         calendar)
    return late


def supervision_figures(store: RecordStore, audit: AuditSearch, *, today: date,
                        catalogue: Catalogue | None = None) -> SupervisionReport:
    """Count the figures; raises StoreUnavailable or AuditUnavailable when a source fails."""
    names = {p.id: p.name_zh for p in catalogue.parties.values()} if catalogue else {}
    lags: dict[str, list[int]] = defaultdict(list)
    for provider, lag in store.submission_lags():
        lags[provider].append(lag)
    open_count: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    for row in store.list_objections(status=OPEN, limit=_MAX_OBJECTIONS):
        open_count[row.provider] += 1
        overdue[row.provider] += is_overdue(row, today)
    granted: Counter[str] = Counter()
    refused_repairs: Counter[str] = Counter()
    for entry in _entries(audit, REPAIR_DECISION):
        if entry.decision == "allow":
            granted[entry.requester] += entry.reason.endswith(" approved")
            refused_repairs[entry.requester] += entry.reason.endswith(" rejected")
    late_publication = _late_publications(store, catalogue)
    providers = (set(lags) | set(open_count) | set(granted) | set(refused_repairs)
                 | set(late_publication))
    if catalogue is not None:
        providers |= {p for c in catalogue.categories.values() for p in c.providers}
    provider_rows = tuple(
        ProviderFigures(
            provider=p, name_zh=names.get(p, ""), submitted=len(lags[p]),
            median_lag_days=statistics.median(lags[p]) if lags[p] else None,
            max_lag_days=max(lags[p]) if lags[p] else None,
            open_objections=open_count[p], overdue_objections=overdue[p],
            repairs_granted=granted[p], repairs_refused=refused_repairs[p],
            published_late=late_publication[p])
        for p in sorted(providers))
    queries: Counter[tuple[str, str]] = Counter()
    refused: Counter[tuple[str, str]] = Counter()
    mandatory = MandatoryChecks(catalogue, QUERY_ACTIONS) if catalogue else None
    for action in QUERY_ACTIONS:
        for entry in _entries(audit, action):
            key = (entry.requester, entry.purpose)
            queries[key] += 1
            refused[key] += entry.decision == "deny"
            if mandatory is not None:
                mandatory.add(entry)
    if mandatory is not None:
        for entry in _entries(audit, DECLARE_ACTION):
            mandatory.add(entry)
    filed: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    late: Counter[str] = Counter()
    days = catalogue.lifecycle.complaint_answer_days if catalogue else 30
    for c in complaint_statuses(store, ReadEntry(_audit_reader(audit)), answer_days=days):
        filed[c.party] += 1
        answered[c.party] += bool(c.outcome)
        late[c.party] += c.overdue(today)
    first: set[str] = set()
    rows: list[QuerierFigures] = []
    for party, purpose in sorted(queries):
        counted = party not in first
        first.add(party)
        rows.append(QuerierFigures(
            party=party, name_zh=names.get(party, ""), purpose=purpose,
            queries=queries[(party, purpose)], refused=refused[(party, purpose)],
            complaints=filed[party] if counted else 0,
            complaints_answered=answered[party] if counted else 0,
            complaints_overdue=late[party] if counted else 0))
    querier_rows = tuple(rows)
    counties = county_figures(store, catalogue, querier_rows, today) if catalogue else ()
    return SupervisionReport(as_of=today, providers=provider_rows, queriers=querier_rows,
                             counties=counties,
                             mandatory_checks=mandatory.figures() if mandatory else ())
