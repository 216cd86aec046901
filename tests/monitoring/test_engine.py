"""The rule engine: each shipped rule fires and holds back, state stays bounded, a restart
from a saved state gives the alerts an uninterrupted run gives, no alert names a person."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Catalogue
from gateway.crypto.fields import FieldCipher
from gateway.crypto.keyring import generate_keyring
from gateway.monitoring.alerts import (
    ack_reason,
    alert_entry,
    read_record,
    seal_note,
)
from gateway.monitoring.engine import Alert, MonitorContext, RuleEngine
from gateway.monitoring.rules import MonitoringRules, load_monitoring
from gateway.pii.idnumber import make_id_number
from tests.support import POLICIES

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in the city
FIXTURES_OK = [HealthCheck.function_scoped_fixture]  # module fixtures: nothing to reset


@pytest.fixture(scope="module")
def shipped(catalogue: Catalogue) -> MonitoringRules:
    return load_monitoring(POLICIES, catalogue)


@pytest.fixture(scope="module")
def ctx(catalogue: Catalogue) -> MonitorContext:
    return MonitorContext.from_catalogue(catalogue)


def only(rules: MonitoringRules, *ids: str, **changes: object) -> MonitoringRules:
    chosen = tuple(replace(r, **changes) for r in rules.rules if r.id in ids)
    return MonitoringRules(chosen, rules.version)


def entry(at: datetime, party: str = "credit_agency", *, subject: str = "",
          purpose: str = "authorised_query", action: str = "query.subject",
          decision: str = "allow", reason: str = "") -> AuditEntry:
    return AuditEntry(time=at, trace_id="", requester=party, action=action, purpose=purpose,
                      subject_index=subject, categories=(), fields_released=(), consent_id="",
                      policy_rule="", policy_version="t", decision=decision, reason=reason,
                      request_id="", record_count=0)


def index(n: int) -> str:
    return f"k1:{n:064x}"


def run(engine: RuleEngine, entries: list[AuditEntry], first: int = 1) -> list[Alert]:
    return [a for seq, e in enumerate(entries, start=first) for a in engine.feed(seq, e)]


def mixed_stream() -> list[AuditEntry]:
    """A day touching every rule: queries, refusals, revocations, night work."""
    out: list[AuditEntry] = []
    evening = START + timedelta(hours=11)  # 21:00 in the city, on into the night
    for i in range(400):
        at = evening + timedelta(seconds=20 * i)
        party = ("credit_agency", "credit_agency_b", "org_department", "hr_bureau")[i % 4]
        purpose = {"org_department": "cadre_selection", "hr_bureau": "title_evaluation"}.get(
            party, "authorised_query")
        if i % 13 == 0:
            out.append(entry(at, "citizen_portal", action="consent.revoke",
                             subject=index(i // 4 % 17)))
        denied = i % 2 == 0  # credit_agency and org_department: every call refused
        out.append(entry(at + timedelta(seconds=5), party, subject=index(i // 4 % 17),
                         purpose=purpose, decision="deny" if denied else "allow",
                         reason="consent_expired" if denied else ""))
    return out


def test_every_shipped_rule_fires_on_the_mixed_day(shipped: MonitoringRules,
                                                   ctx: MonitorContext) -> None:
    alerts = run(RuleEngine(shipped, ctx), mixed_stream())
    fired = {a.rule for a in alerts}
    # volume, blacklist and unusual purpose need weeks or a listing: their own tests.
    assert {"night_queries", "refusal_share", "consent_failures", "query_after_revocation",
            "many_agencies"} <= fired
    assert len({a.alert_id for a in alerts}) == len(alerts)


@given(cut=st.integers(min_value=1, max_value=430))
@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES_OK)
def test_a_restart_from_saved_state_raises_what_one_run_raises(
        cut: int, shipped: MonitoringRules, ctx: MonitorContext) -> None:
    stream = mixed_stream()
    whole = run(RuleEngine(shipped, ctx), stream)
    first = RuleEngine(shipped, ctx)
    before = run(first, stream[:cut])
    saved = json.loads(json.dumps(first.state()))  # through JSON, as the store keeps it
    second = RuleEngine(shipped, ctx)
    second.restore(saved)
    # A crash may lose the save of a batch: replaying entries already evaluated adds nothing.
    replayed = run(second, stream[:cut])
    after = run(second, stream[cut:], first=cut + 1)
    assert replayed == []
    assert [a.alert_id for a in before + after] == [a.alert_id for a in whole]


def test_alert_ids_are_the_same_on_any_instance(shipped: MonitoringRules,
                                                ctx: MonitorContext) -> None:
    a = run(RuleEngine(shipped, ctx), mixed_stream())
    b = run(RuleEngine(shipped, ctx), mixed_stream())
    assert [x.alert_id for x in a] == [x.alert_id for x in b] and a


def test_state_stays_within_max_tracked(shipped: MonitoringRules, ctx: MonitorContext) -> None:
    rules = only(shipped, "many_agencies", "query_after_revocation", max_tracked=50)
    engine = RuleEngine(rules, ctx)
    stream = []
    for i in range(5000):
        at = START + timedelta(seconds=i)
        stream.append(entry(at, "citizen_portal", action="consent.revoke", subject=index(i)))
        stream.append(entry(at, subject=index(i)))
    alerts = run(engine, stream)
    assert len(alerts) == 5000  # each query right after its own revocation
    for dumped in engine.state()["rules"].values():
        assert len(dumped["state"]) <= 50 and len(dumped["fired"]) <= 50


def test_volume_baseline_compares_with_the_same_hour_of_the_week(
        shipped: MonitoringRules, ctx: MonitorContext) -> None:
    rules = only(shipped, "volume_spike")
    usual = [entry(START + timedelta(weeks=w, minutes=m)) for w in (0, 1, 2) for m in range(20)]
    engine = RuleEngine(rules, ctx)
    assert run(engine, usual) == []
    # Monday of week four: 100 calls is five times the usual 20, the 101st is over it.
    busy = [entry(START + timedelta(weeks=3, seconds=20 * m)) for m in range(120)]
    alerts = run(engine, busy, first=1000)
    assert [(a.rule, a.party) for a in alerts] == [("volume_spike", "credit_agency")]
    assert alerts[0].trigger_seqs[-1] == 1000 + 100
    # Tuesday morning, an hour the agency never works: min_calls (50) is the bar.
    tuesday = [entry(START + timedelta(weeks=3, days=1, seconds=30 * m)) for m in range(60)]
    alerts = run(engine, tuesday, first=2000)
    assert [a.trigger_seqs[-1] for a in alerts] == [2000 + 49]


def test_night_is_city_time(shipped: MonitoringRules, ctx: MonitorContext) -> None:
    rules = only(shipped, "night_queries")
    engine = RuleEngine(rules, ctx)
    # 22:30 UTC is 06:30 in the city (day); 15:00 UTC is 23:00 in the city (night).
    day = entry(datetime(2026, 11, 2, 22, 30, tzinfo=UTC), "org_department",
                purpose="cadre_selection")
    night = replace(day, time=datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    assert run(engine, [day]) == []
    assert [a.rule for a in run(engine, [night], first=2)] == ["night_queries"]


@dataclass(frozen=True)
class Raw:
    """An entry as the engine reads it, with whatever text in its fields."""

    time: datetime
    requester: str
    action: str
    purpose: str
    subject_index: str
    decision: str
    reason: str


ID_NUMBERS = st.builds(make_id_number, st.sampled_from(["110105", "330106", "440305"]),
                       st.dates(date(1940, 1, 1), date(2008, 1, 1)),
                       st.integers(min_value=0, max_value=999))


@given(ids=st.lists(ID_NUMBERS, min_size=5, max_size=5),
       layout=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
                       min_size=40, max_size=120))
@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES_OK)
def test_no_alert_or_acknowledgement_holds_an_id_number(
        ids: list[str], layout: list[tuple[bool, bool, bool, bool]],
        shipped: MonitoringRules, ctx: MonitorContext) -> None:
    cipher = FieldCipher(generate_keyring())
    engine = RuleEngine(shipped, ctx)
    alerts: list[Alert] = []
    for n, (bad_party, bad_subject, bad_purpose, bad_reason) in enumerate(layout):
        who = ids[n % 5]
        raw = Raw(time=START + timedelta(hours=14, minutes=n),  # 00:00.. in the city: night
                  requester=who if bad_party else ("credit_agency", "credit_agency_b")[n % 2],
                  action="consent.revoke" if n % 5 == 0 else "query.subject",
                  purpose=who if bad_purpose else "authorised_query",
                  subject_index=who if bad_subject else index(n % 3),
                  decision="deny" if n % 2 else "allow",
                  reason=f"consent_{who}" if bad_reason else "consent_expired")
        alerts += engine.feed(n + 1, raw)
    assert alerts, "the layout raised no alert: the test would check nothing"
    texts: list[str] = []
    for seq, alert in enumerate(alerts, start=1000):
        logged = alert_entry(alert, now=START, version="v")
        record = read_record(seq, logged)
        assert record is not None and record.alert_id == alert.alert_id
        texts += [logged.canonical_bytes().decode(), repr(record)]
        sealed = seal_note(cipher, alert_id=alert.alert_id, request_id="req-1",
                           note="the agency was asked to explain")
        ack = replace(logged, requester="regulator", action="alert.ack",
                      reason=ack_reason(alert.alert_id, sealed), request_id="req-1")
        texts += [ack.canonical_bytes().decode(), repr(read_record(seq + 1, ack, cipher))]
    for text in texts:
        for number in ids:
            assert number not in text and number[:17] not in text
