"""The supervision page's counting: per party, purpose and city day, with refusal reasons."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from gateway.console.figures import Tally, count


def _entry(time: str, requester: str, purpose: str, decision: str = "allow",
           reason: str = "", consent_id: str = "") -> SimpleNamespace:
    return SimpleNamespace(time=time, requester=requester, purpose=purpose,
                           decision=decision, reason=reason, consent_id=consent_id)


ENTRIES = [
    _entry("2026-11-24T09:00:00Z", "org_department", "cadre_selection"),
    _entry("2026-11-24T09:00:00Z", "credit_agency", "authorised_query", "deny",
           "consent_missing"),
    # 16:30 UTC is half past midnight in the city: the next day.
    _entry("2026-11-24T16:30:00Z", "credit_agency", "authorised_query", consent_id="c-1"),
    _entry("2026-11-25T01:00:00Z", "credit_agency", "authorised_query", "deny",
           "consent_missing"),
    _entry("2026-11-25T02:00:00Z", "credit_agency", "authorised_query", "deny",
           "quota_exceeded"),
    _entry("2026-11-25T03:00:00Z", "hr_bureau", "", "deny"),
]


def test_count_groups_by_party_purpose_and_city_day() -> None:
    f = count(ENTRIES)
    assert f.total == 6
    assert f.by_party == (
        Tally("credit_agency", 4, 3, 1, (("consent_missing", 2), ("quota_exceeded", 1))),
        Tally("hr_bureau", 1, 1, 0, (("unspecified", 1),)),
        Tally("org_department", 1, 0, 0, ()))
    assert [(t.key, t.queries) for t in f.by_purpose] == [
        ("authorised_query", 4), ("-", 1), ("cadre_selection", 1)]
    assert f.by_day == (
        Tally("2026-11-24", 2, 1, 0, (("consent_missing", 1),)),
        Tally("2026-11-25", 4, 3, 1, (("consent_missing", 1), ("quota_exceeded", 1),
                                      ("unspecified", 1))))
    assert f.refusals == (("consent_missing", 2), ("quota_exceeded", 1), ("unspecified", 1))
    assert (date(2026, 11, 25), "credit_agency", "authorised_query", "quota_exceeded",
            1) in f.reason_rows
    assert sum(r[4] for r in f.reason_rows) == sum(t.refused for t in f.by_party)
    assert sum(r.queries for r in f.rows) == f.total


def test_nothing_counted_is_nothing_shown() -> None:
    f = count([])
    assert f.total == 0 and f.by_party == f.by_day == f.refusals == f.reason_rows == ()
