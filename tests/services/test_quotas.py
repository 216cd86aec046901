"""Quotas end to end: each limit kind of limits.toml, tried past its limit on a live
gateway (mTLS on loopback, real SQLite), refused RESOURCE_EXHAUSTED with a retry-after
and audited with the reason `quota`; a restart does not reset a counter."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.audit.entry import AuditEntry
from gateway.clock import FixedClock
from gateway.pii.idnumber import make_id_number
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.support import ADULT, OTHER_ADULT, POLICIES

PARTY, PURPOSE = "org_department", "cadre_selection"
THIRD = make_id_number("320102", date(1990, 1, 5), 77)
#: Seconds from NOW (09:00:00 UTC) to the end of its minute and of the city's day (UTC+8).
TO_MINUTE_END, TO_DAY_END = 60, 7 * 3600


def limited(tmp_path: Path, *, party: str = PARTY, purpose: str = PURPOSE,
            **amounts: int) -> Path:
    """The shipped policies with one limit (default: on org_department's cadre checks)."""
    dest = tmp_path / "policies"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(POLICIES, dest)
    lines = [f"[limits.cadre_checks]\nparty = \"{party}\"\npurpose = \"{purpose}\""]
    lines += [f"{kind} = {amount}" for kind, amount in amounts.items()]
    (dest / "limits.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def ask(live: LiveGateway, subject: str = ADULT) -> None:
    """One cadre-selection query as org_department."""
    live.client(PARTY).query_subject(subject, PURPOSE)


def refused(live: LiveGateway, subject: str = ADULT) -> grpc.RpcError:
    """A query that must be refused for a quota; the error."""
    with pytest.raises(grpc.RpcError) as info:
        ask(live, subject)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return info.value


def retry_after(error: grpc.RpcError) -> int:
    trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    seconds = int(trailers["retry-after"])
    assert f"retry after {seconds} s" in str(error.details())
    return seconds


def last_entry(live: LiveGateway) -> AuditEntry:
    size = live.gw.audit.size()
    return live.gw.audit.read(start=size, limit=1)[0][1]


Make = Callable[..., LiveGateway]


def test_calls_per_minute(live_factory: Make, tmp_path: Path, clock: FixedClock) -> None:
    live = live_factory(policies=limited(tmp_path, calls_per_minute=3))
    for _ in range(3):
        ask(live)
    error = refused(live)
    assert retry_after(error) == TO_MINUTE_END
    entry = last_entry(live)
    assert (entry.decision, entry.reason, entry.requester) == ("deny", "quota", PARTY)
    assert "limits.toml [cadre_checks] calls_per_minute = 3" in entry.policy_rule
    refused(live)  # still refused, and the refusal took nothing
    assert live.gw.metrics.registry.get_sample_value(
        "credgate_quota_refusals_total",
        {"party": PARTY, "purpose": PURPOSE, "limit": "calls_per_minute"}) == 2
    clock.advance(timedelta(seconds=TO_MINUTE_END))
    for _ in range(3):
        ask(live)
    refused(live)


def test_calls_per_day(live_factory: Make, tmp_path: Path, clock: FixedClock) -> None:
    live = live_factory(policies=limited(tmp_path, calls_per_day=2))
    ask(live)
    ask(live)
    assert retry_after(refused(live)) == TO_DAY_END
    clock.advance(timedelta(hours=1))  # a new minute, the same day
    assert retry_after(refused(live)) == TO_DAY_END - 3600
    clock.advance(timedelta(hours=6))  # midnight in the city
    ask(live)


def test_distinct_subjects_per_day(live_factory: Make, tmp_path: Path) -> None:
    live = live_factory(policies=limited(tmp_path, subjects_per_day=2))
    ask(live, ADULT)
    ask(live, OTHER_ADULT)
    ask(live, ADULT)  # a person counted already costs no slot
    ask(live, OTHER_ADULT)
    error = refused(live, THIRD)
    assert retry_after(error) == TO_DAY_END
    entry = last_entry(live)
    assert entry.reason == "quota" and "subjects_per_day = 2" in entry.policy_rule
    # The refusal names the blind index, as every entry does; never the ID number.
    assert THIRD not in entry.canonical_bytes().decode("utf-8")
    ask(live, ADULT)


def test_distinct_subjects_per_minute(live_factory: Make, tmp_path: Path,
                                      clock: FixedClock) -> None:
    live = live_factory(policies=limited(tmp_path, subjects_per_minute=1))
    ask(live, ADULT)
    ask(live, ADULT)
    assert retry_after(refused(live, OTHER_ADULT)) == TO_MINUTE_END
    clock.advance(timedelta(minutes=1))
    ask(live, OTHER_ADULT)


def test_burst(live_factory: Make, tmp_path: Path, clock: FixedClock) -> None:
    live = live_factory(policies=limited(tmp_path, calls_per_minute=30, burst=2))
    ask(live)
    ask(live)
    assert retry_after(refused(live)) == 2  # one call refills in 60 / 30 s
    clock.advance(timedelta(seconds=2))
    ask(live)
    refused(live)
    clock.advance(timedelta(seconds=10))  # the bucket holds at most the burst
    ask(live)
    ask(live)
    refused(live)


def test_a_refused_limit_takes_nothing_from_the_others(live_factory: Make,
                                                       tmp_path: Path) -> None:
    live = live_factory(policies=limited(tmp_path, calls_per_day=3, subjects_per_day=1))
    ask(live, ADULT)
    refused(live, OTHER_ADULT)  # over the subjects; the call is not counted
    refused(live, OTHER_ADULT)
    ask(live, ADULT)
    ask(live, ADULT)
    refused(live, ADULT)  # now the calls


def test_other_parties_and_purposes_are_not_limited(live_factory: Make,
                                                    tmp_path: Path) -> None:
    live = live_factory(policies=limited(tmp_path, calls_per_minute=1))
    ask(live)
    refused(live)
    live.client("hr_bureau").query_subject(ADULT, PURPOSE)
    with pytest.raises(grpc.RpcError) as info:  # no rule: refused, but not for a quota
        live.client(PARTY).query_subject(ADULT, "title_evaluation")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_restart_does_not_reset_a_counter(live_factory: Make, tmp_path: Path) -> None:
    policies = limited(tmp_path, calls_per_day=40)
    first = live_factory(policies=policies, subdir="gw")
    for _ in range(3):
        ask(first)
    # The second instance on the same data folder stands for the restarted one: the
    # first has given back what it leased and not used when it stops.
    first.server.stop(grace=0)
    first.gw.close()
    second = live_factory(policies=policies, subdir="gw")
    served = 0
    for _ in range(50):
        try:
            ask(second)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            break
        served += 1
    assert served == 40 - 3


def test_a_limit_goes_live_only_through_the_two_person_rollout(live_factory: Make) -> None:
    live = live_factory(policy_two_person=True)
    files = read_bundle(POLICIES)
    files["limits.toml"] += (b'\n[limits.title_checks]\nparty = "hr_bureau"\n'
                             b'purpose = "title_evaluation"\ncalls_per_day = 1\n')
    pending = live.client("security_officer").propose_policy(files)
    assert pending.status == "pending", pending.reason
    # What the second officer is shown names the new limit.
    assert "limits: [title_checks] new (hr_bureau for title_evaluation: calls_per_day 1)" \
        in json.loads(pending.diff_json)["notes"]
    hr = live.client("hr_bureau")
    hr.query_subject(ADULT, "title_evaluation")
    hr.query_subject(ADULT, "title_evaluation")  # not in force before the approval
    live.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=pending.id), timeout=30)
    hr.query_subject(ADULT, "title_evaluation")  # the counter starts with the limit
    with pytest.raises(grpc.RpcError) as info:
        hr.query_subject(ADULT, "title_evaluation")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_yes_no_check_counts_too(live_factory: Make, tmp_path: Path) -> None:
    live = live_factory(policies=limited(tmp_path, party="market_regulator",
                                         purpose="admin_licensing", calls_per_day=1))
    regulator = live.client("market_regulator")
    regulator.green_channel(ADULT)
    with pytest.raises(grpc.RpcError) as info:
        regulator.green_channel(ADULT)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert last_entry(live).reason == "quota"
