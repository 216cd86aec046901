"""A consent use is spent only by a call that released something (database faults)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import grpc
import psycopg
import pytest

from gateway.clock import FixedClock
from gateway.consent import artefacts as consent_module
from gateway.consent.uses import OutcomeSweeper, SweepResult
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT

pytestmark = pytest.mark.e2e


def one_use_consent(live: LiveGateway) -> str:
    now = live.gw.clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=30), max_uses=1)


def query(live: LiveGateway, consent_id: str) -> object:
    return live.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                      consent_id=consent_id)


def uses(live: LiveGateway, consent_id: str) -> int:
    row = live.gw.store.get_consent(consent_id)
    assert row is not None
    return row.uses


def unavailable(live: LiveGateway, consent_id: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        query(live, consent_id)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_store_fault_after_the_consent_step_gives_the_use_back(
        on_postgres: tuple[LiveGateway, str]) -> None:
    live, conninfo = on_postgres
    live.client("court").submit_records([debtor_record("USE-1")])
    consent_id = one_use_consent(live)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # The records table vanishes under the gateway: the consent step counts the use,
        # then the fetch step fails, before any allow entry.
        conn.execute("ALTER TABLE credgate.records RENAME TO records_away")
        try:
            unavailable(live, consent_id)
        finally:
            conn.execute("ALTER TABLE credgate.records_away RENAME TO records")
    assert uses(live, consent_id) == 0
    assert query(live, consent_id)  # the one use is still there, and is spent now
    assert uses(live, consent_id) == 1
    with pytest.raises(grpc.RpcError) as info:
        query(live, consent_id)
    assert "used up" in (info.value.details() or "")


def test_an_audit_fault_before_the_allow_entry_gives_the_use_back(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("USE-2")])
    consent_id = one_use_consent(live)
    with sqlite3.connect(live.gw.config.audit_db, isolation_level=None) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # the log cannot take the allow entry
        try:
            unavailable(live, consent_id)
        finally:
            holder.execute("ROLLBACK")
    assert uses(live, consent_id) == 0
    assert query(live, consent_id)
    assert uses(live, consent_id) == 1


def test_every_service_counts_consent_uses_through_the_call_frame() -> None:
    # A service that called the registry directly would spend uses it never gives back.
    services = Path(__file__).resolve().parents[2] / "gateway" / "services"
    direct = [p.name for p in services.glob("*.py")
              if "consents.check(" in p.read_text(encoding="utf-8") and p.name != "common.py"]
    assert direct == []


def test_settled_uses_are_written_in_batches_and_the_sweeper_settles_the_rest(
        live: LiveGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12: no call writes its settled use alone. A use left unwritten is settled by
    # the sweeper from the call's allow entry: it stays spent, never given back.
    monkeypatch.setattr(consent_module, "SETTLE_BATCH", 3)
    live.client("court").submit_records([debtor_record("USE-3")])
    now = live.gw.clock.now()
    consent_id = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=30), max_uses=10)
    store = live.gw.store

    def unsettled() -> int:
        return len(store.unsettled_consent_uses(used_before=now + timedelta(days=1)))

    for _ in range(2):
        assert query(live, consent_id)
    assert unsettled() == 2  # not written yet
    assert query(live, consent_id)
    assert unsettled() == 0  # the third settle wrote all three
    assert query(live, consent_id)
    assert unsettled() == 1
    later = FixedClock(live.gw.clock.now() + timedelta(seconds=5))  # past the grace
    sweeper = OutcomeSweeper(store, live.gw.audit, clock=later, grace=timedelta(0))
    assert sweeper.sweep() == SweepResult()  # settled from its allow entry, not given back
    assert unsettled() == 0 and uses(live, consent_id) == 4
