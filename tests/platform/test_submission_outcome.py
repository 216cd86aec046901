"""A submission's records and its audit entry commit together (database faults).

The records are stored pending before the allow entry and go live after it; a fault at
any point leaves the log and the store agreeing: an allow entry and live records (at the
latest after a sweep), or one refusal and nothing ever shown.
"""

from __future__ import annotations

import grpc
import psycopg
import pytest

from gateway.audit.entry import AuditEntry
from tests.live_gateway import LiveGateway
from tests.platform.outcomes import audit_held, sweep_later
from tests.services.records_data import debtor_record
from tests.support import ADULT

pytestmark = pytest.mark.e2e

SUBMIT = "records.submit"


def submissions(live: LiveGateway) -> list[AuditEntry]:
    """The log's submission entries, oldest first."""
    return [e for _, e in live.gw.audit.read(start=1, limit=10_000) if e.action == SUBMIT]


def shown(live: LiveGateway) -> set[str]:
    """The case numbers of the records a department is shown about ADULT."""
    answer = live.client("org_department").query_subject(ADULT, "cadre_selection")
    return {f.value for r in answer.records for f in r.fields if f.name == "case_number"}


def fault(conninfo: str, when: str) -> None:
    """Make the store refuse record writes of one kind ('INSERT' or activation)."""
    condition = "" if when == "INSERT" else \
        "WHEN (OLD.state = 'pending' AND NEW.state = 'active')"
    event = "INSERT" if when == "INSERT" else "UPDATE"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION credgate.refuse() RETURNS trigger AS $$ "
                     "BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql")
        conn.execute(f"CREATE TRIGGER injected_fault BEFORE {event} ON credgate.records "
                     f"FOR EACH ROW {condition} EXECUTE FUNCTION credgate.refuse()")


def heal(conninfo: str) -> None:
    """Take the injected fault away."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TRIGGER injected_fault ON credgate.records")


def test_a_store_fault_after_the_allow_entry_answers_and_the_sweeper_activates(
        on_postgres: tuple[LiveGateway, str]) -> None:
    live, conninfo = on_postgres
    court = live.client("court")
    fault(conninfo, "activate")
    try:
        answer = court.submit_records([debtor_record("OUT-1")])
    finally:
        heal(conninfo)
    # Decided and durable: the call succeeds, and the log has its allow entry only.
    assert answer.results[0].created
    assert [e.decision for e in submissions(live)] == ["allow"]
    assert "OUT-1" not in shown(live)  # not live yet: the activation failed
    done = sweep_later(live)
    assert (done.records_activated, done.records_dropped) == (1, 0)
    assert "OUT-1" in shown(live)
    assert [e.decision for e in submissions(live)] == ["allow"]


def test_a_store_fault_before_the_allow_entry_refuses_once_and_stores_nothing(
        on_postgres: tuple[LiveGateway, str]) -> None:
    live, conninfo = on_postgres
    court = live.client("court")
    fault(conninfo, "INSERT")
    try:
        with pytest.raises(grpc.RpcError) as info:
            court.submit_records([debtor_record("OUT-2")])
    finally:
        heal(conninfo)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert [e.decision for e in submissions(live)] == ["deny"]
    assert "OUT-2" not in shown(live)
    assert court.submit_records([debtor_record("OUT-2")]).results[0].created
    assert "OUT-2" in shown(live)


def test_an_audit_fault_leaves_nothing_shown_and_the_sweeper_drops_it(
        live: LiveGateway) -> None:
    court = live.client("court")
    with audit_held(live), pytest.raises(grpc.RpcError) as info:
        court.submit_records([debtor_record("OUT-3")])
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert submissions(live) == []  # no entry could be written, and nothing is shown
    assert "OUT-3" not in shown(live)
    done = sweep_later(live)
    assert (done.records_activated, done.records_dropped) == (0, 1)
    assert court.submit_records([debtor_record("OUT-3")]).results[0].created
    assert "OUT-3" in shown(live)


def test_a_retry_of_a_failed_submission_goes_live_with_the_same_record_id(
        live: LiveGateway) -> None:
    court = live.client("court")
    with audit_held(live), pytest.raises(grpc.RpcError):
        court.submit_records([debtor_record("OUT-4")])
    retried = court.submit_records([debtor_record("OUT-4")])
    assert retried.results[0].created  # this call's allow entry made it live
    assert "OUT-4" in shown(live)
    done = sweep_later(live)  # the first call's pending row is now the retry's live one
    assert (done.records_activated, done.records_dropped) == (0, 0)
    again = court.submit_records([debtor_record("OUT-4")])
    assert again.results[0].record_id == retried.results[0].record_id
    assert not again.results[0].created
