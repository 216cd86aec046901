"""Exports for regulators and the offline verifier, on real audit files and the real log key."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import nacl.signing
import pytest

from gateway.audit.checkpoint import sign_checkpoint
from gateway.audit.checkpointer import CheckpointStore
from gateway.audit.export import export_range
from gateway.audit.export_format import side_file
from gateway.audit.log import SqliteAuditLog
from gateway.audit.tree import AuditTree
from gateway.audit.verifier import ExportError, VerifyReport, verify_export
from gateway.errors import InvalidArgument
from tests.audit.tamper import LOG_KEY, LOG_PUB, TAMPERINGS, attacker, build_log, gateway_log

SIZES = [4, 8, 12, 16, 20]  # a checkpoint after every 4 entries
SIGNED = (0, *SIZES)  # and the one every new log gets before its first entry


@pytest.fixture
def path(tmp_path: Path) -> Path:
    build_log(tmp_path / "audit.db", SIZES)
    return tmp_path / "audit.db"


def export(path: Path, name: str = "export.jsonl", **kw: object) -> Path:
    out = path.with_name(name)
    with gateway_log(path) as (log, evidence):
        export_range(log, evidence.tree, evidence.checkpointer, out, **kw)  # type: ignore[arg-type]
    return out


def forensic_export(path: Path) -> Path:
    """Export a log that fails its self-check, as an investigator would (nothing is signed)."""
    out = path.with_name("forensic.jsonl")
    tree, store, log = AuditTree.open(path, self_check=False), CheckpointStore(path), \
        SqliteAuditLog(path)
    try:
        export_range(log, tree, store, out)
    finally:
        log.close()
        store.close()
        tree.close()
    return out


def note_of_size(path: Path, size: int) -> str:
    store = CheckpointStore(path)
    try:
        return next(c.note for c in store.between(size, size))
    finally:
        store.close()


def rewrite(out: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Apply edit(list of entry lines) to an export file, keeping its header."""
    header, *lines = out.read_bytes().split(b"\n")[:-1]
    out.write_bytes(b"\n".join([header, *edit(lines)]) + b"\n")


def verify(out: Path, checkpoint: str | None = None, **kw: object) -> VerifyReport:
    return verify_export(out, checkpoint, LOG_PUB, **kw)  # type: ignore[arg-type]


# -- the format ------------------------------------------------------------------------


def test_export_lines_are_the_exact_canonical_bytes(path: Path) -> None:
    out = export(path)
    header, *lines = out.read_bytes().split(b"\n")
    assert lines.pop() == b""
    with sqlite3.connect(path) as conn:
        assert lines == [e for (e,) in conn.execute("SELECT entry FROM audit_log ORDER BY seq")]
    meta = json.loads(header)
    assert (meta["format"], meta["version"], meta["first_seq"], meta["last_seq"]) == (
        "credgate-audit-export", 1, 1, 20)
    assert meta["prefix"] == [] and meta["consistency"] == []
    assert len(meta["checkpoints"]) == len(SIGNED)
    assert side_file(out, ".leafhashes").stat().st_size == 20 * 32
    assert side_file(out, ".checkpoint").read_text() == note_of_size(path, 20)


def test_full_export_verifies(path: Path) -> None:
    calls: list[tuple[int, int]] = []
    report = verify(export(path), progress=lambda done, total: calls.append((done, total)))
    assert report.ok, report
    assert (report.first_seq, report.last_seq, report.entries) == (1, 20, 20)
    assert report.checked_sizes == SIGNED
    assert calls[-1] == (20, 20)


def test_range_export_verifies_with_prefix_and_consistency_proof(path: Path) -> None:
    report = verify(export(path, start=6, end=15))
    assert report.ok, report
    assert (report.first_seq, report.last_seq) == (6, 15)
    assert report.checked_sizes == (8, 12, 20)  # 20 through the consistency proof


def test_previous_checkpoint_is_checked_for_consistency(path: Path) -> None:
    report = verify(export(path), previous_checkpoint=note_of_size(path, 8))
    assert report.ok and report.previous_size == 8


def test_regulators_own_checkpoint_is_used(path: Path) -> None:
    report = verify(export(path, end=10), note_of_size(path, 20))
    assert report.ok and report.checkpoint_size == 20


def test_previous_checkpoint_from_a_forked_log_fails(path: Path) -> None:
    fork = sign_checkpoint("credgate.example/audit-log", 8, b"\x05" * 32, None, LOG_KEY)
    report = verify(export(path), previous_checkpoint=fork)
    assert not report.ok and "forked" in (report.failure or "")
    report = verify(export(path, start=9), note_of_size(path, 20), previous_checkpoint=fork)
    assert not report.ok  # checked against the prefix of the range export


def test_max_checkpoints_thins_the_bundle(path: Path) -> None:
    out = export(path, max_checkpoints=2)
    assert len(json.loads(out.read_bytes().split(b"\n")[0])["checkpoints"]) == 2
    assert verify(out).ok


def test_empty_log_exports_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    build_log(path, [0])
    report = verify(export(path))
    assert report.ok and report.entries == 0


def test_export_beyond_the_newest_checkpoint_is_refused(path: Path) -> None:
    store = CheckpointStore(path)
    anchor = store.latest()
    store.close()
    assert anchor is not None
    with gateway_log(path) as (log, evidence), pytest.raises(InvalidArgument):
        export_range(log, evidence.tree, anchor, path.with_name("x.jsonl"), end=21)


# -- tampering in the database, caught by the verifier --------------------------------------


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_verifier_names_the_first_entry_tampered_in_the_database(path: Path,
                                                                 tampering: str) -> None:
    tamper, first_bad = TAMPERINGS[tampering]
    with attacker(path) as conn:
        tamper(conn)
    out = forensic_export(path)
    report = verify(out)
    assert not report.ok
    assert (report.first_bad_seq, report.located) == (first_bad, "exact"), report
    side_file(out, ".leafhashes").unlink()  # without the gateway's leaf hashes: an interval
    report = verify(out)
    assert not report.ok and report.located == "interval"
    assert report.bad_range == (5, 8)  # between the checkpoints of size 4 and 8


def test_leaf_hashes_that_do_not_match_the_signed_root_are_not_trusted(path: Path) -> None:
    with attacker(path) as conn:
        TAMPERINGS["entry-changed"][0](conn)
    out = forensic_export(path)
    hints = side_file(out, ".leafhashes")
    data = hints.read_bytes()  # the attacker's own hint for seq 6, inside the bad interval
    hints.write_bytes(data[:5 * 32] + bytes(32) + data[6 * 32:])
    report = verify(out)
    assert not report.ok and report.located == "interval"


# -- tampering with the export file ----------------------------------------------------------


def _drop(lines: list[bytes], i: int) -> list[bytes]:
    return lines[:i] + lines[i + 1:]


EXPORT_EDITS = {
    "line-changed": (lambda ls: [*ls[:6], ls[6].replace(b'"reason":""', b'"reason":"ok"'),
                                 *ls[7:]], 7),
    "line-byte-flipped": (lambda ls: [*ls[:6], ls[6][:-2] + b"0}", *ls[7:]], 7),
    "line-deleted": (lambda ls: _drop(ls, 6), 7),
    "lines-swapped": (lambda ls: [*ls[:6], ls[10], *ls[7:10], ls[6], *ls[11:]], 7),
    "line-inserted": (lambda ls: [*ls[:6], ls[0], *ls[6:]], 7),
    "file-truncated-mid-entry": (lambda ls: [*ls[:13], ls[13][:40]], 14),
    "line-appended": (lambda ls: [*ls, ls[0]], 21),
}


@pytest.mark.parametrize("edit", EXPORT_EDITS)
def test_verifier_names_the_first_bad_line_of_an_edited_export(path: Path, edit: str) -> None:
    change, first_bad = EXPORT_EDITS[edit]
    out = export(path)
    rewrite(out, change)
    report = verify(out)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report


def test_a_malformed_line_is_named_even_without_leaf_hashes(path: Path) -> None:
    out = export(path)
    rewrite(out, EXPORT_EDITS["line-byte-flipped"][0])
    side_file(out, ".leafhashes").unlink()
    report = verify(out)
    assert (report.ok, report.located, report.bad_range, report.first_bad_seq) == (
        False, "interval", (5, 8), 7)


def test_a_bundled_checkpoint_with_a_changed_root_fails(path: Path) -> None:
    out = export(path)
    raw = out.read_bytes()
    header = json.loads(raw.split(b"\n")[0])
    lines = header["checkpoints"][1].split("\n")
    lines[2] = "A" * 43 + "="
    header["checkpoints"][1] = "\n".join(lines)
    out.write_bytes(json.dumps(header).encode() + raw[raw.index(b"\n"):])
    report = verify(out)
    assert not report.ok and "does not verify" in (report.failure or "")


def test_wrong_log_key_fails(path: Path) -> None:
    other = nacl.signing.SigningKey.generate().verify_key
    report = verify_export(export(path), None, other)
    assert not report.ok and report.first_bad_seq is None


# -- broken input ------------------------------------------------------------------------------


def test_broken_input_raises_export_error(path: Path, tmp_path: Path) -> None:
    out = export(path)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    for args in [(tmp_path / "missing.jsonl", None), (junk, None), (out, "not a checkpoint")]:
        with pytest.raises(ExportError):
            verify(*args)  # type: ignore[arg-type]
    with pytest.raises(ExportError):  # the regulator's checkpoint is newer than the export
        verify(export(path, end=10, name="short.jsonl"), sign_checkpoint(
            "credgate.example/audit-log", 30, b"\x01" * 32, None, LOG_KEY))
    with pytest.raises(ExportError):  # the previous checkpoint is older than a range export
        verify(export(path, start=10, name="late.jsonl"),
               previous_checkpoint=note_of_size(path, 4))
