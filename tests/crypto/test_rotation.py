"""Online rotation: rotate, take the keys while serving, re-encrypt under load, resume."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.app import open_store
from gateway.cli import main
from gateway.crypto.blind_index import blind_index
from gateway.crypto.fields import FieldCipher
from gateway.crypto.keyring import DATA_KEYS_FILE, keyring_toml, load_keyring
from gateway.errors import ConfigurationError
from gateway.records.intake import open_subject
from gateway.rotation.reencrypt import Progress, reencrypt_store, under_active_keys
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS, OTHER_ADULT
from tests.threads import run_together, times


class Killed(Exception):
    """Stands for a kill -9 of a re-encryption in the middle of its run."""


def _answer(live: LiveGateway, keys: Path) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    reply = live.client("org_department", keys).query_subject(ADULT, "cadre_selection")
    return sorted((r.record_id, tuple((f.name, f.value) for f in r.fields))
                  for r in reply.records)


def test_rotate_and_reencrypt_under_load_with_no_failed_call(
        live_factory: Callable[..., LiveGateway], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    live = live_factory(keys_dir=keys)
    court = live.client("court", keys)
    court.submit_records([debtor_record(f"K-{i}") for i in range(12)]
                         + [debtor_record(f"O-{i}", subject=OTHER_ADULT) for i in range(6)])
    live.client("public_security", keys).submit_records([identity_record()])
    expected = _answer(live, keys)
    assert len(expected) == 13
    portal = live.client("citizen_portal", keys)
    now = live.gw.clock.now()
    window = {"grantee": "credit_agency", "purpose": "authorised_query",
              "categories": ["dishonest_debtor"], "not_before": now - timedelta(minutes=1),
              "not_after": now + timedelta(days=30), "max_uses": 5}
    consent = portal.issue_consent(subject_id=ADULT, **window)  # type: ignore[arg-type]
    revoked = portal.issue_consent(subject_id=OTHER_ADULT, **window)  # type: ignore[arg-type]
    portal.revoke_consent(revoked, reason="purpose fulfilled")

    # Load: one party asking again and again, from before the rotation to after it.
    failures: list[BaseException] = []
    answers = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answers
        client = live.client("org_department", keys)
        while not stop.is_set() and answers < 2000:
            try:
                got = client.query_subject(ADULT, "cadre_selection")
                assert sorted((r.record_id, tuple((f.name, f.value) for f in r.fields))
                              for r in got.records) == expected
                answers += 1
            except BaseException as exc:  # every failure counts, whatever it is
                failures.append(exc)
                return

    loader = threading.Thread(target=load)
    loader.start()
    try:
        old = load_keyring(keys)
        assert main(["keys", "rotate", "master", "--keys", str(keys)]) == 0
        assert main(["keys", "rotate", "index", "--keys", str(keys)]) == 0
        changes = live.gw.reload_keys()
        assert [c.split()[0] for c in changes] == ["master", "blind-index"]
        config = live.gw.config

        # A first run is killed after its first page; two runs then finish it together.
        def killed(progress: Progress) -> None:
            raise Killed

        first = open_store(config)
        with pytest.raises(Killed):
            reencrypt_store(first, load_keyring(keys), batch=4, on_progress=killed)
        first.close()

        def run() -> Progress:
            store = open_store(config)
            try:
                return reencrypt_store(store, load_keyring(keys), batch=3)
            finally:
                store.close()

        results = run_together(run, times(2))
    finally:
        stop.set()
        loader.join()
    assert not failures, failures[:1]
    assert answers > 0
    assert len(results) == 2 and all(r.failed == 0 for r in results)
    # Four records went under the new keys before the kill; the two runs did the rest once.
    # ... and the two consents (one with its sealed revocation reason).
    assert sum(r.rekeyed for r in results) == 19 - 4 + 2
    assert _answer(live, keys) == expected

    # Everything is under the new keys: the old ones can go.
    new = load_keyring(keys)
    store = open_store(config)
    try:
        records = store.records_page(limit=100)
        consents = store.consents_page(limit=100)
    finally:
        store.close()
    assert {c.consent_id for c in consents} == {consent, revoked}
    for row in consents:
        assert row.subject_index.startswith(f"{new.active_index_id}:")
        assert row.artefact_ciphertext[2:2 + row.artefact_ciphertext[1]].decode() == \
            new.active_master_id
    got = live.client("credit_agency", keys).query_subject(
        ADULT, "authorised_query", consent_id=consent)
    assert [r.category for r in got.records] == ["dishonest_debtor"] * 12
    assert len(records) == 19 and all(under_active_keys(new, r) for r in records)
    trimmed = new._replace(
        master_keys={new.active_master_id: new.master_keys[new.active_master_id]},
        index_keys={new.active_index_id: new.index_keys[new.active_index_id]},
        master_suites={}, index_suites={})
    for record in records:
        subject = open_subject(record, FieldCipher(trimmed))
        assert record.subject_index == blind_index(trimmed, subject)
    assert old.active_master_id not in {r.subject_ciphertext[2:2 + r.subject_ciphertext[1]]
                                        .decode() for r in records}
    rotations = [e for _, e in live.gw.audit.read(start=1, limit=500)
                 if e.action == "keys.rotate"]
    assert [e.reason.split()[0] for e in rotations] == ["master", "blind-index"]


def test_a_key_file_that_drops_a_key_in_use_is_refused_and_changes_nothing(
        live_factory: Callable[..., LiveGateway], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    live = live_factory(keys_dir=keys)
    running = live.gw.keyring.active_master_id
    fresh = load_keyring(keys).with_new_master("mk-fresh")
    dropped = fresh._replace(master_keys={"mk-fresh": fresh.master_keys["mk-fresh"]},
                             master_suites={})
    (keys / DATA_KEYS_FILE).write_text(keyring_toml(dropped))
    with pytest.raises(ConfigurationError):
        live.gw.reload_keys()
    assert live.gw.keyring.active_master_id == running
    assert not [e for _, e in live.gw.audit.read(start=1, limit=50) if e.action == "keys.rotate"]
