"""Alerts end to end: real calls trigger each shipped rule, the monitor logs the alerts,
regulators (only) watch them over WatchAlerts and acknowledge them with a note."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.cli import main
from gateway.clock import FixedClock
from gateway.crypto.blind_index import blind_index
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.lifecycle_support import audit_entries, refused
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, NOW, OTHER_ADULT

pytestmark = pytest.mark.e2e
CODE = grpc.StatusCode


def consent(live: LiveGateway, clock: FixedClock, agency: str, subject: str) -> str:
    now = clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=subject, grantee=agency, purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=60), max_uses=50)


def misbehave(live: LiveGateway, clock: FixedClock) -> None:
    """A day of calls that breaks every shipped rule but the volume one (its own test)."""
    live.client("court").submit_records([debtor_record("AL-1"),
                                         debtor_record("AL-2", subject=OTHER_ADULT)])
    hr = live.client("hr_bureau")
    hr.query_subject(ADULT, "title_evaluation")  # hr_bureau's usual purpose, day one
    a, b = live.client("credit_agency"), live.client("credit_agency_b")
    # many_agencies: two agencies look the same person up within the hour.
    a.query_subject(ADULT, "authorised_query", consent_id=consent(live, clock, "credit_agency",
                                                                  ADULT))
    b.query_subject(ADULT, "authorised_query",
                    consent_id=consent(live, clock, "credit_agency_b", ADULT))
    # query_after_revocation: the person revokes; the agency queries minutes later.
    revoked = consent(live, clock, "credit_agency", OTHER_ADULT)
    live.client("citizen_portal").revoke_consent(revoked, "撤回")
    clock.advance(timedelta(minutes=5))
    refused(lambda: a.query_subject(OTHER_ADULT, "authorised_query", consent_id=revoked),
            CODE.PERMISSION_DENIED)
    # consent_failures and refusal_share: twenty queries on consents that do not exist.
    for n in range(20):
        refused(lambda n=n: b.query_subject(OTHER_ADULT, "authorised_query",
                                            consent_id=f"no-such-consent-{n}"),
                CODE.PERMISSION_DENIED)
    # blacklisted_calls: the agency is listed and calls again.
    live.client("security_officer").blacklist_agency("credit_agency_b", "转售查询结果")
    refused(lambda: b.list_objections(), CODE.PERMISSION_DENIED, "blacklist")
    # night_queries: a cadre check at 23:30 city time.
    clock.set(datetime(2026, 11, 28, 15, 30, tzinfo=UTC))
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    # unusual_purpose: five weeks later, by day, the HR bureau checks for an award.
    clock.set(NOW + timedelta(days=35))
    hr.query_subject(ADULT, "awards")


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One gateway after the misbehaving day, its monitor run over the whole log."""
    clock = FixedClock(NOW)
    live = start_live(tmp_path_factory.mktemp("alerts"), clock)
    try:
        misbehave(live, clock)
        assert live.gw.monitor is not None
        live.gw.monitor.step()
        yield live
    finally:
        stop_live(live)


def events(live: LiveGateway, after: int = 0) -> list[pb.AlertEvent]:
    return list(live.client("regulator").watch_alerts(after_seq=after, follow=False))


def test_each_shipped_rule_raises_its_alert_from_real_calls(watched: LiveGateway) -> None:
    alerts = [e for e in events(watched) if e.kind == "alert"]
    by_rule = {e.rule: e for e in reversed(alerts)}  # the first alert of each rule
    assert set(by_rule) == {r.id for r in watched.gw.state.monitoring.rules} - {"volume_spike"}
    adult, other = (blind_index(watched.gw.keyring, s) for s in (ADULT, OTHER_ADULT))
    # Both people were looked up by both agencies (OTHER_ADULT's tries were refused).
    assert sorted(e.subject_index for e in alerts if e.rule == "many_agencies") == sorted(
        [adult, other])
    assert {(e.party, e.subject_index) for e in alerts if e.rule == "query_after_revocation"
            } == {("credit_agency", other), ("credit_agency_b", other)}
    assert by_rule["blacklisted_calls"].party == "credit_agency_b"
    assert by_rule["night_queries"].party == "org_department"
    assert by_rule["unusual_purpose"].party == "hr_bureau"
    assert by_rule["blacklisted_calls"].severity == "critical"
    assert "黑名单" in by_rule["blacklisted_calls"].explanation_zh
    # Each alert is an audit entry naming the seqs of the entries that triggered it.
    logged = {e.request_id: e for e in audit_entries(watched, "alert")}
    assert set(logged) == {e.alert_id for e in alerts}
    read = dict(watched.gw.audit.read(start=1, limit=10_000))
    for alert in alerts:
        assert alert.trigger_seqs and all(read[s].action != "alert" for s in alert.trigger_seqs)
    revocation = by_rule["query_after_revocation"].trigger_seqs
    assert [read[s].action for s in revocation] == ["consent.revoke", "query.subject"]
    # Operators see them counted by rule (gateway.metrics: credgate_alerts_total).
    sample = watched.gw.metrics.registry.get_sample_value
    assert sample("credgate_alerts_total", {"rule": "blacklisted_calls",
                                            "severity": "critical"}) == 1
    assert sample("credgate_alerts_total", {"rule": "many_agencies", "severity": "high"}) == 2


def test_a_second_pass_logs_nothing_twice(watched: LiveGateway) -> None:
    monitor = watched.gw.monitor
    assert monitor is not None
    before = len(audit_entries(watched, "alert"))
    watched.gw.monitor.store.save(monitor.holder, position=0, state="", now=0, seconds=0)
    monitor._engine = None  # as after a crash that lost every save: evaluate it all again
    assert monitor.step() > 0
    assert len(audit_entries(watched, "alert")) == before


def test_only_regulators_watch_and_acknowledge(watched: LiveGateway) -> None:
    alert = next(e for e in events(watched) if e.kind == "alert")
    for party in ("credit_agency", "security_officer", "org_department"):
        client = watched.client(party)
        refused(lambda c=client: list(c.watch_alerts(follow=False)), CODE.PERMISSION_DENIED,
                "regulators")
        refused(lambda c=client: c.ack_alert(alert.alert_id, "seen"), CODE.PERMISSION_DENIED,
                "regulators")
    denied = [e for e in audit_entries(watched, "alerts.watch") if e.decision == "deny"]
    assert {e.requester for e in denied} >= {"credit_agency", "security_officer"}


def test_an_acknowledgement_is_logged_with_its_note_sealed(watched: LiveGateway) -> None:
    regulator = watched.client("regulator")
    alert = next(e for e in events(watched) if e.rule == "many_agencies")
    reply = regulator.ack_alert(alert.alert_id, "已约谈两家机构，要求说明查询依据")
    ack = [e for e in events(watched, after=reply.seq - 1) if e.kind == "ack"]
    assert [(a.alert_id, a.acked_by, a.note, a.rule) for a in ack] == [
        (alert.alert_id, "regulator", "已约谈两家机构，要求说明查询依据", "many_agencies")]
    entry = dict(watched.gw.audit.read(start=reply.seq, limit=1))[reply.seq]
    assert entry.action == "alert.ack" and "约谈" not in entry.canonical_bytes().decode()
    refused(lambda: regulator.ack_alert("al-" + "ab" * 12, "seen"), CODE.NOT_FOUND)
    refused(lambda: regulator.ack_alert("not an id", "seen"), CODE.INVALID_ARGUMENT)
    refused(lambda: regulator.ack_alert(alert.alert_id, f"身份证号{ADULT}的人投诉"),
            CODE.INVALID_ARGUMENT, "personal data")


def test_no_stream_text_holds_an_id_number(watched: LiveGateway) -> None:
    text = "".join(str(e) for e in events(watched))
    for number in (ADULT, OTHER_ADULT):
        assert number not in text and number[:17] not in text


def test_a_watcher_follows_new_alerts_and_resumes_from_its_position(
        watched: LiveGateway) -> None:
    regulator = watched.client("regulator")
    start = [e for e in events(watched) if e.kind == "position"][-1].seq
    call = regulator.watch_alerts(after_seq=start, follow=True)
    got: list[pb.AlertEvent] = []
    listening = threading.Event()

    def follow() -> None:
        try:
            for event in call:
                listening.set()  # the first event is the position it caught up to
                if event.kind == "alert":
                    got.append(event)
                    if len(got) == 2:
                        call.cancel()
        except grpc.RpcError as err:
            assert err.code() == CODE.CANCELLED  # our own cancel, after the second alert

    follower = threading.Thread(target=follow)
    follower.start()
    assert listening.wait(timeout=30)
    clock = watched.gw.clock
    assert isinstance(clock, FixedClock)
    clock.set(NOW + timedelta(days=40))
    # Both departments' purposes are unused for over 30 days now: two alerts.
    watched.client("org_department").query_subject(ADULT, "cadre_selection")
    watched.client("hr_bureau").query_subject(ADULT, "personnel_exam")
    assert watched.gw.monitor is not None
    watched.gw.monitor.step()
    follower.join(timeout=30)
    assert not follower.is_alive()
    assert [(e.rule, e.party) for e in got] == [("unusual_purpose", "org_department"),
                                                ("unusual_purpose", "hr_bureau")]
    # A watcher that reconnects after the first alert misses nothing and sees nothing twice.
    again = [e.alert_id for e in events(watched, after=got[0].seq) if e.kind == "alert"]
    assert again == [got[1].alert_id]


def test_the_cli_lists_and_acknowledges(watched: LiveGateway,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    clock = watched.gw.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime.now(UTC))  # the CLI signs its requests with the real time
    common = ["--target", watched.target, "--keys", str(KEYS)]
    assert main(["alerts", "--no-follow", "--json", *common]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    alerts = [x for x in lines if x["kind"] == "alert"]
    assert {x["rule"] for x in alerts} >= {"night_queries", "blacklisted_calls"}
    assert lines[-1]["kind"] == "position"
    target = alerts[0]["alert_id"]
    assert main(["alerts", "ack", target, "--note", "reviewed", *common]) == 0
    assert f"{target} acknowledged" in capsys.readouterr().out
    assert main(["alerts", "watch", "--no-follow", *common]) == 0
    table = capsys.readouterr().out
    assert "blacklisted_calls" in table and "critical" in table and "已列入违规经营黑名单" in table
    assert main(["alerts", "ack", target, "--party", "credit_agency", *common]) == 1


def test_a_volume_spike_over_three_weeks_of_real_calls(tmp_path: Path) -> None:
    monday = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in the city
    clock = FixedClock(monday)
    live = start_live(tmp_path, clock)
    try:
        org = live.client("org_department")
        for week, calls in ((0, 3), (1, 3), (2, 60)):
            clock.set(monday + timedelta(weeks=week))
            for _ in range(calls):
                org.query_subject(ADULT, "cadre_selection")
                clock.advance(timedelta(seconds=30))
        assert live.gw.monitor is not None
        live.gw.monitor.step()
        alerts = [e for e in live.client("regulator").watch_alerts(follow=False)
                  if e.kind == "alert"]
        assert [(e.rule, e.party) for e in alerts] == [("volume_spike", "org_department")]
        queries = [seq for seq, e in live.gw.audit.read(start=1, limit=1000)
                   if e.action == "query.subject"]
        assert alerts[0].trigger_seqs[-1] == queries[3 + 3 + 50 - 1]  # the 50th (min_calls)
    finally:
        stop_live(live)


def test_following_watches_are_bounded_and_listing_still_works(watched: LiveGateway) -> None:
    regulator = watched.client("regulator")
    limit = max(1, watched.gw.config.max_workers // 4)
    held = []
    try:
        for _ in range(limit):
            call = regulator.watch_alerts(follow=True)
            next(iter(call))  # admitted: its first event arrived
            held.append(call)
        refused(lambda: next(iter(regulator.watch_alerts(follow=True))),
                CODE.RESOURCE_EXHAUSTED, "too many alert watches")
        assert events(watched)  # a listing (no_follow) needs no thread of its own
    finally:
        for call in held:
            call.cancel()
