"""`credgate keys reencrypt` moves every sealed or indexed row while several clients call,
on SQLite and on PostgreSQL, and each key event is in the audit log."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.app import open_store
from gateway.cli import main
from gateway.crypto.keyring import load_keyring
from gateway.rotation.reencrypt import under_active_keys
from gateway.rotation.reencrypt_sealed import SEALED, sealed_current
from tests.live_gateway import LiveGateway
from tests.platform.instances import fresh_database, url_of
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, KEYS

pytestmark = pytest.mark.e2e
CLIENTS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store and log of the gateway: SQLite files, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with fresh_database() as conninfo:
        yield url_of(conninfo)


def _lifecycle(live: LiveGateway, keys: Path) -> str:
    """Records, an answered and an open objection, a decided and a pending repair, a lifted
    and a standing listing: every kind of sealed row. Returns the self_query consent."""
    court, market = live.client("court", keys), live.client("market_regulator", keys)
    court.submit_records([debtor_record(f"RE-{i}") for i in range(6)])
    market.submit_records([penalty_record(f"RP-{i}", "minor", f"2026-11-0{i + 1}")
                           for i in range(2)])
    now = live.gw.clock.now()
    portal = live.client("citizen_portal", keys)
    consent = portal.issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=list(live.gw.catalogue.categories), not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=300), max_uses=10_000)
    records = portal.query_subject(ADULT, "self_query", consent_id=consent).records
    debts = [r.record_id for r in records if r.category == "dishonest_debtor"]
    penalties = [r.record_id for r in records if r.category == "admin_penalty"]
    answered = portal.file_objection(ADULT, consent, debts[0], "此笔债务已清偿").objection
    court.answer_objection(answered.objection_id, "uphold", note="经核实记录无误")
    portal.file_objection(ADULT, consent, debts[1], "金额有误")
    decided = portal.apply_repair(ADULT, consent, penalties[0], "已缴清罚款").repair
    market.decide_repair(decided.repair_id, approve=False, reason="材料不全")
    portal.apply_repair(ADULT, consent, penalties[1], "已整改到位")
    officer = live.client("security_officer", keys)
    officer.blacklist_agency("credit_agency_b", "超出授权范围查询")
    officer.lift_blacklist("credit_agency_b", "整改完成")
    officer.blacklist_agency("credit_agency_b", "再次违规")
    return consent


def _views(live: LiveGateway, keys: Path, consent: str) -> dict[str, Callable[[], Any]]:
    """What the callers see; each must be the same before, during and after."""
    portal, officer = live.client("citizen_portal", keys), live.client("security_officer", keys)
    department = live.client("org_department", keys)
    return {
        "query": lambda: sorted((r.record_id, tuple((f.name, f.value) for f in r.fields))
                                for r in department.query_subject(
                                    ADULT, "cadre_selection").records),
        "objections": lambda: sorted(
            (o.objection_id, o.reason, o.answer_note, o.status) for o in
            portal.list_objections(subject_id=ADULT, consent_id=consent).objections),
        "repairs": lambda: sorted(
            (r.repair_id, r.statement, r.decision_reason, r.status) for r in
            portal.list_repairs(subject_id=ADULT, consent_id=consent).repairs),
        "blacklist": lambda: sorted(
            (e.party, e.reason, e.lift_reason) for e in
            officer.list_blacklist(include_lifted=True).entries),
    }


def test_reencrypt_moves_every_sealed_row_while_clients_call(
        live_factory: Callable[..., LiveGateway], tmp_path: Path, database: str) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    live = live_factory(keys_dir=keys, database=database)
    consent = _lifecycle(live, keys)
    views = _views(live, keys, consent)
    expected = {name: view() for name, view in views.items()}
    assert all(expected.values())
    assert any(r[2] for r in expected["blacklist"]) and any(o[2] for o in expected["objections"])

    failures: list[BaseException] = []
    calls = [0] * CLIENTS
    done = threading.Event()

    def load(worker: int) -> None:
        names = list(views)
        while not done.is_set() or calls[worker] < 8:
            name = names[(worker + calls[worker]) % len(names)]
            try:
                assert views[name]() == expected[name], name
            except BaseException as exc:  # every failure counts, whatever it is
                failures.append(exc)
                return
            calls[worker] += 1

    loaders = [threading.Thread(target=load, args=(i,)) for i in range(CLIENTS)]
    for loader in loaders:
        loader.start()
    try:
        assert main(["keys", "rotate", "master", "--keys", str(keys)]) == 0
        assert main(["keys", "rotate", "index", "--keys", str(keys)]) == 0
        assert len(live.gw.reload_keys()) == 2
        assert main(["keys", "reencrypt", "--keys", str(keys), "--data-dir",
                     str(live.gw.config.data_dir), "--database", database, "--batch", "3"]) == 0
    finally:
        done.set()
        for loader in loaders:
            loader.join()
    assert not failures, failures[:1]
    assert min(calls) >= 8

    # Everything is under the new keys, the submission digests too.
    new = load_keyring(keys)
    store = open_store(live.gw.config)
    try:
        records = store.records_page(limit=100)
        assert records and all(under_active_keys(new, r) for r in records)
        for table in SEALED:
            rows = store.sealed_page(table, limit=100)
            assert len(rows) == 2 and all(sealed_current(new, table, r) for r in rows), table
    finally:
        store.close()
    # A department sending a record again is still a replay, not a conflict.
    court = live.client("court", keys)
    assert court.submit_records([debtor_record("RE-0")]).results
    assert len(views["query"]()) == \
        len(expected["query"])
    # Each key event is an audit entry.
    events = [(e.action, e.reason.split()[0]) for _, e in live.gw.audit.read(start=1, limit=500)
              if e.action.startswith("keys.")]
    assert events == [("keys.rotate", "master"), ("keys.rotate", "blind-index"),
                      ("keys.reencrypt", "started"), ("keys.reencrypt", "finished")]
