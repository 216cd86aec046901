"""C2SP checkpoints: format, signatures, the append-only store and the Checkpointer."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import nacl.signing
import pytest

from gateway.audit.checkpoint import (
    DEFAULT_ORIGIN,
    CheckpointError,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    verify_note,
)
from gateway.audit.checkpointer import CheckpointStore
from gateway.audit.tree import TamperDetected
from gateway.crypto.signatures import note_key_hash
from gateway.errors import AuditUnavailable
from tests.audit.tamper import LOG_KEY, LOG_PUB, gateway_log, make_entry

ROOT = bytes(range(32))
WHEN = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
NOTE = sign_checkpoint(DEFAULT_ORIGIN, 1234, ROOT, WHEN, LOG_KEY)
OTHER = nacl.signing.SigningKey(b"\x07" * 32)
SUMDB = json.loads((Path(__file__).parents[1] / "crypto" / "vectors"
                    / "note-ed25519-go-sumdb.json").read_text())


def test_signed_checkpoint_has_the_c2sp_layout() -> None:
    body, sig_line = NOTE.split("\n\n")
    assert body.split("\n") == [DEFAULT_ORIGIN, "1234", base64.b64encode(ROOT).decode(),
                                "time 2024-05-01T08:30:00Z"]
    dash, name, sig = sig_line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == DEFAULT_ORIGIN
    raw = base64.b64decode(sig)
    assert len(raw) == 4 + 64
    assert raw[:4] == note_key_hash(DEFAULT_ORIGIN, LOG_PUB)


def test_round_trip() -> None:
    cp = verify_checkpoint(NOTE, LOG_PUB)
    assert (cp.origin, cp.size, cp.root, cp.time, cp.extensions) == (
        DEFAULT_ORIGIN, 1234, ROOT, WHEN, ())
    assert cp.note == NOTE and NOTE.startswith(cp.body)
    assert verify_checkpoint(NOTE.encode(), LOG_PUB, DEFAULT_ORIGIN) == cp
    untimed = verify_checkpoint(sign_checkpoint(DEFAULT_ORIGIN, 0, ROOT, None, LOG_KEY), LOG_PUB)
    assert untimed.time is None and untimed.size == 0


def test_the_go_sumdb_signed_note_verifies() -> None:
    key = nacl.signing.VerifyKey(base64.b64decode(SUMDB["verifier_key"].split("+")[2])[1:])
    sig_line = f"\u2014 {SUMDB['name']} {SUMDB['signature_b64']}\n"
    note = SUMDB["text"] + "\n" + sig_line
    assert verify_note(note, key, SUMDB["name"]) == SUMDB["text"]
    with pytest.raises(CheckpointError):
        verify_note(note.replace("cryptography", "cryptograph"), key, SUMDB["name"])


def test_unknown_extension_lines_are_kept_verbatim() -> None:
    body = f"{DEFAULT_ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\nwitness-hint abc\n"
    cp = parse_checkpoint(body + "\n\u2014 x " + base64.b64encode(b"\0" * 68).decode() + "\n")
    assert cp.extensions == ("witness-hint abc",)


def test_signatures_of_unknown_keys_are_ignored() -> None:
    witness = sign_checkpoint(DEFAULT_ORIGIN, 1234, ROOT, WHEN, OTHER, "witness.example/w1")
    both = NOTE + witness.split("\n\n")[1]
    assert verify_checkpoint(both, LOG_PUB).size == 1234
    with pytest.raises(CheckpointError):
        verify_checkpoint(witness, LOG_PUB)  # only an unknown signer: rejected


def _resign_body(body: str) -> str:
    sig = NOTE.split("\n\n")[1]
    return body + "\n" + sig


def _replace_line(index: int, value: str) -> str:
    lines = NOTE.split("\n\n")[0].split("\n")
    lines[index] = value
    return _resign_body("\n".join(lines) + "\n")


def _flip_signature() -> str:
    body, sig_line = NOTE.split("\n\n")
    dash, name, sig = sig_line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    return f"{body}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"


BROKEN = {
    "signature-bit-flipped": _flip_signature(),
    "size-changed-after-signing": _replace_line(1, "1235"),
    "size-with-leading-zero": _replace_line(1, "01234"),
    "size-negative": _replace_line(1, "-1"),
    "root-31-bytes": _replace_line(2, base64.b64encode(ROOT[:31]).decode()),
    "root-not-base64": _replace_line(2, "not base64!"),
    "root-non-canonical-base64": _replace_line(
        2, base64.b64encode(ROOT).decode()[:-2] + "R="),
    "time-malformed": _replace_line(3, "time 2024-05-01 08:30:00"),
    "extension-line-empty": _replace_line(3, ""),
    "origin-empty": _replace_line(0, ""),
    "blank-line-missing": NOTE.replace("\n\n", "\n"),
    "no-final-newline": NOTE.rstrip("\n"),
    "em-dash-missing": NOTE.replace("\u2014 ", "- "),
    "control-character": NOTE.replace("time ", "time\t"),
    "signature-truncated": NOTE.replace(NOTE.split(" ")[-1], "AAAA\n"),
    "two-time-lines": _resign_body(NOTE.split("\n\n")[0] + "\ntime 2024-05-01T08:30:00Z\n"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_checkpoint_is_refused(name: str) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(BROKEN[name], LOG_PUB)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(CheckpointError) as caught:
        verify_checkpoint(NOTE, OTHER.verify_key)
    assert caught.value.reason == "no_known_signature"


def test_wrong_key_name_is_refused() -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(NOTE, LOG_PUB, "credgate.example/other-log")


def test_origin_that_cannot_be_a_key_name_is_refused() -> None:
    with pytest.raises(CheckpointError):
        sign_checkpoint("credgate example", 1, ROOT, None, LOG_KEY)


# -- store and checkpointer --------------------------------------------------------------


def test_store_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = CheckpointStore(path)
    store.append(sign_checkpoint(DEFAULT_ORIGIN, 5, ROOT, None, LOG_KEY))
    store.append(sign_checkpoint(DEFAULT_ORIGIN, 9, ROOT, None, LOG_KEY))
    assert store.latest() is not None and store.latest().size == 9
    assert [c.size for c in store.between(6)] == [9]
    with pytest.raises(AuditUnavailable) as caught:
        store.append(sign_checkpoint(DEFAULT_ORIGIN, 8, ROOT, None, LOG_KEY))
    assert "size never shrinking" in caught.value.detail
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in ("UPDATE audit_checkpoints SET size = 1", "DELETE FROM audit_checkpoints"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_checkpointer_signs_the_current_tree_and_reuses_an_unchanged_one(tmp_path: Path) -> None:
    with gateway_log(tmp_path / "audit.db") as (log, evidence):
        log.append_many(make_entry(n) for n in range(5))
        first = evidence.checkpointer.checkpoint_now()
        assert first.size == 5 and first.root == evidence.tree.root()
        verify_checkpoint(first.note, LOG_PUB)
        assert evidence.checkpointer.checkpoint_now().note == first.note
        log.append(make_entry(5))
        assert evidence.checkpointer.checkpoint_now().size == 6


def test_checkpointer_signs_on_schedule_and_at_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with gateway_log(path, interval=0.02) as (log, evidence):
        log.append_many(make_entry(n) for n in range(3))
        deadline = time.monotonic() + 5
        while (evidence.store.latest() or parse_checkpoint(NOTE)).size != 3:
            assert time.monotonic() < deadline, "no scheduled checkpoint"
            time.sleep(0.01)
        log.append(make_entry(3))
    store = CheckpointStore(path)
    assert store.latest().size == 4  # the final checkpoint at close
    store.close()


def test_checkpointer_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(
        tmp_path: Path) -> None:
    with gateway_log(tmp_path / "audit.db") as (log, evidence):
        log.append_many(make_entry(n) for n in range(4))
        evidence.store.append(sign_checkpoint(DEFAULT_ORIGIN, 4, ROOT, None, LOG_KEY))
        log.append(make_entry(4))
        with pytest.raises(TamperDetected):
            evidence.checkpointer.checkpoint_now()
        evidence.store.append(sign_checkpoint(DEFAULT_ORIGIN, 5, evidence.tree.root(), None,
                                              LOG_KEY))  # repaired, so close() can finish


def test_store_samples_evenly_and_keeps_the_newest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "audit.db")
    for size in range(1, 101):
        store.append(sign_checkpoint(DEFAULT_ORIGIN, size, ROOT, None, LOG_KEY))
    sample = [c.size for c in store.between(limit=10)]
    assert sample[0] == 1 and sample[-1] == 100 and len(sample) <= 11
    assert [c.size for c in store.between(20, 30, limit=100)] == list(range(20, 31))
    store.close()


def test_a_damaged_stored_checkpoint_is_tampering(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with gateway_log(path) as (log, evidence):
        log.append(make_entry(1))
        evidence.checkpointer.checkpoint_now()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_checkpoints_no_update")
    conn.execute("UPDATE audit_checkpoints SET note = 'garbage'")
    conn.close()
    with pytest.raises(TamperDetected) as caught, gateway_log(path):
        pass
    assert caught.value.reason == "checkpoint_damaged"
