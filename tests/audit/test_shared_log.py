"""The shared audit log: one log for many processes, on SQLite and on PostgreSQL.

Writers are real processes (``tests.audit.shared_writer``) appending at the same time;
the attacker writes the database directly (SQLite file access with the triggers
dropped, or the PostgreSQL superuser with triggers disabled).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from gateway.audit.checkpoint import verify_checkpoint
from gateway.audit.export import export_range
from gateway.audit.merkle import leaf_hash, verify_consistency
from gateway.audit.search import AuditFilter, AuditSearch
from gateway.audit.shared import (
    LogBehind,
    LogClosed,
    RequestReplayed,
    closed_state_mac,
    state_mac,
    state_mac_key,
)
from gateway.audit.tree import TamperDetected
from gateway.audit.verifier import verify_export
from gateway.errors import AuditUnavailable
from tests.audit.shared_support import ORIGIN, fresh_schema, make_backend, open_log, pg_admin
from tests.audit.tamper import LOG_KEY, LOG_PUB, make_entry
from tests.support import REPO

KINDS = ["sqlite", "postgres"]


@pytest.fixture(params=KINDS)
def where(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(kind, where): a directory for SQLite or a fresh schema for PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "db")
        return
    with fresh_schema() as schema:
        yield "postgres", schema


def _raw(kind: str, where: str, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    """The attacker: direct writes with the append-only triggers out of the way."""
    if kind == "sqlite":
        conn = sqlite3.connect(Path(where) / "audit.db", isolation_level=None)
        for name in ("tlog_entries_next_seq", "tlog_entries_no_update",
                     "tlog_state_no_shrink"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        for text, params in statements:
            conn.execute(text.replace("{p}", "").replace("%s", "?"), params)
        conn.close()
        return
    schema = sql.Identifier(where).as_string(None)
    stmts = [(f"ALTER TABLE {schema}.tlog_entries DISABLE TRIGGER USER", ()),
             (f"ALTER TABLE {schema}.tlog_state DISABLE TRIGGER USER", ()),
             *[(t.replace("{p}", f"{schema}."), p) for t, p in statements],
             (f"ALTER TABLE {schema}.tlog_entries ENABLE TRIGGER USER", ()),
             (f"ALTER TABLE {schema}.tlog_state ENABLE TRIGGER USER", ())]
    for text, params in stmts:
        pg_admin(text, params)


def _writers(kind: str, where: str, tmp_path: Path, processes: int, count: int,
             *mode: str) -> list[dict]:
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.audit.shared_writer", kind, where,
         str(tmp_path / f"instance-{k}"), str(count), "4", f"w{k}", *mode],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(processes)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.mark.parametrize("processes", [3])
def test_processes_append_to_one_log(where, tmp_path: Path, processes: int) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    backend = make_backend(kind, loc)
    with open_log(backend, tmp_path / "first"):
        pass  # created once, as a deployment does before starting instances
    results = _writers(kind, loc, tmp_path, processes, 300)
    seqs = sorted(s for r in results for s in r["seqs"])
    assert seqs == list(range(1, processes * 300 + 1))  # no gap, no duplicate
    with open_log(make_backend(kind, loc), tmp_path / "reader") as (log, evidence):
        assert log.size() == processes * 300
        # Every process's own writes are there under the seq it was told.
        tags = {e.request_id for _, e in log.read(start=1, limit=10_000)}
        assert len(tags) == processes * 300
        # Checkpoints signed by different processes: all consistent with one tree.
        notes = [n for r in results for n in r["checkpoints"]]
        assert len({r["checkpoints"][0] for r in results if r["checkpoints"]}) >= 1
        final = evidence.checkpointer.checkpoint_now()
        for note in notes:
            cp = verify_checkpoint(note, LOG_PUB, ORIGIN)
            verify_consistency(cp.size, final.size, cp.root, final.root,
                               evidence.tree.consistency_proof(cp.size, final.size))
        # The export verifies offline.
        out = tmp_path / "export.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, out)
        report = verify_export(out, final.note, LOG_PUB)
        assert report.ok and report.last_seq == processes * 300
        # Search sees every process's entries.
        search = AuditSearch(log.backend)
        try:
            page = search.search(AuditFilter(requester="agency.acme"), page_size=1000)
            assert len(page.entries) == processes * 300
        finally:
            search.close()


def test_a_request_digest_is_served_once_across_processes_and_after_a_restart(  # type: ignore[no-untyped-def]
        where, tmp_path: Path) -> None:
    # Three processes append entries naming the same 60 request digests at once: each
    # digest is served (its entry made) exactly once, the refused ones leave no entry
    # and no gap, and the memory outlives the processes.
    kind, loc = where
    with open_log(make_backend(kind, loc), tmp_path / "first"):
        pass
    results = _writers(kind, loc, tmp_path, 3, 60, "digests")
    seqs = sorted(s for r in results for s in r["seqs"])
    assert seqs == list(range(1, 61))
    for i in range(60):  # every digest served by exactly one process
        assert sum(i not in r["replayed"] for r in results) == 1
    with open_log(make_backend(kind, loc), tmp_path / "later") as (log, _):
        with pytest.raises(RequestReplayed):
            log.append(make_entry(1), request_digest="digest-7", refuse_replay=True)
        # A refusal's entry names the digest too, but is never itself refused.
        refusal = log.append(make_entry(2), request_digest="digest-7")
        fresh = log.append(make_entry(3), request_digest="digest-new", refuse_replay=True)
        assert (refusal, fresh) == (61, 62)
        with pytest.raises(RequestReplayed):
            log.append(make_entry(4), request_digest="digest-new", refuse_replay=True)
        assert log.size() == 62


def test_a_planted_row_is_caught_before_any_checkpoint(where, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    alerts: list[TamperDetected] = []
    with open_log(make_backend(kind, loc), tmp_path / "a", alerts=alerts) as (log, evidence):
        log.append_many(make_entry(i) for i in range(5))
        forged = make_entry(99, reason="planted").canonical_bytes()
        _raw(kind, loc, [("INSERT INTO {p}tlog_entries (seq, entry, leaf) VALUES (%s, %s, %s)",
                          (6, forged, leaf_hash(forged)))])
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(6))
        assert alerts and alerts[0].reason == "planted_row" and alerts[0].seq == 6
        with pytest.raises(AuditUnavailable):  # closed to appends from now on
            log.append(make_entry(7))
        latest = evidence.store.latest()
        assert latest is not None and latest.size <= 5


def test_a_planted_row_with_a_rewritten_state_is_caught(where, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    alerts: list[TamperDetected] = []
    with open_log(make_backend(kind, loc), tmp_path / "a", alerts=alerts) as (log, _):
        log.append_many(make_entry(i) for i in range(5))
        forged = make_entry(99, reason="planted").canonical_bytes()
        # The attacker extends the state too, but has no MAC key: a made-up one.
        fake_key = state_mac_key(type(LOG_KEY).generate())
        _raw(kind, loc, [
            ("UPDATE {p}tlog_state SET size = 6, mac = %s WHERE id = 1",
             (state_mac(fake_key, ORIGIN, 6, b"\0" * 32),)),
            ("INSERT INTO {p}tlog_entries (seq, entry, leaf) VALUES (%s, %s, %s)",
             (6, forged, leaf_hash(forged)))])
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(6))
        assert alerts and alerts[0].reason == "state_forged"


def test_a_changed_entry_is_refused_at_start(where, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    with open_log(make_backend(kind, loc), tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(9))
        evidence.checkpointer.checkpoint_now()
    forged = make_entry(3, reason="forged").canonical_bytes()
    _raw(kind, loc, [("UPDATE {p}tlog_entries SET entry = %s WHERE seq = 4", (forged,))])
    with pytest.raises(TamperDetected) as info, open_log(make_backend(kind, loc),
                                                         tmp_path / "a"):
        pass
    assert info.value.seq == 4 and info.value.reason == "entry_changed"


def test_a_database_behind_a_seen_checkpoint_is_refused(where, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    with open_log(make_backend(kind, loc), tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(4))
        evidence.checkpointer.checkpoint_now()
    old_seen = (tmp_path / "a" / "audit-seen-checkpoint").read_text()
    with open_log(make_backend(kind, loc), tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(4, 10))
        newer = evidence.checkpointer.checkpoint_now()
    # Another instance saw only the old state; a database "restored" behind 10 entries
    # is simulated by a second log whose newest checkpoint is that old one: the running
    # instance that has seen 10 refuses it, at start and at every append.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "audit-seen-checkpoint").write_text(newer.note)
    if kind == "sqlite":
        other = tmp_path / "restored"
        with open_log(make_backend(kind, str(other)), tmp_path / "c") as (log, evidence):
            log.append_many(make_entry(i) for i in range(4))
            evidence.checkpointer.checkpoint_now()
        with pytest.raises(LogBehind) as info, open_log(make_backend(kind, str(other)),
                                                        tmp_path / "b"):
            pass
        assert "BEHIND" in info.value.message and "10" in info.value.message
        assert "promote the standby" in info.value.message
        assert old_seen
        return
    with fresh_schema() as other, open_log(make_backend(kind, other), tmp_path / "c") as (
            log, evidence):
        log.append_many(make_entry(i) for i in range(4))
        evidence.checkpointer.checkpoint_now()
        with pytest.raises(LogBehind), open_log(make_backend(kind, other), tmp_path / "b"):
            pass
        # A running instance that learns of a newer checkpoint refuses the next append.
        log.seen.offer(newer)
        with pytest.raises(LogBehind):
            log.append(make_entry(5))


def test_sqlite_backup_restored_under_a_running_data_dir(tmp_path: Path) -> None:
    loc = tmp_path / "db"
    with open_log(make_backend("sqlite", str(loc)), tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(3))
        evidence.checkpointer.checkpoint_now()
    shutil.copytree(loc, tmp_path / "backup")
    with open_log(make_backend("sqlite", str(loc)), tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(3, 8))
        evidence.checkpointer.checkpoint_now()
    shutil.rmtree(loc)
    shutil.copytree(tmp_path / "backup", loc)
    with pytest.raises(LogBehind), open_log(make_backend("sqlite", str(loc)), tmp_path / "a"):
        pass


def test_a_closed_log_refuses_every_append_and_stays_verifiable(where, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, loc = where
    alerts: list[TamperDetected] = []
    backend = make_backend(kind, loc)
    with open_log(backend, tmp_path / "a", alerts=alerts) as (log, evidence), \
            open_log(make_backend(kind, loc), tmp_path / "b") as (other, _):
        log.append_many(make_entry(i) for i in range(4))
        assert not other.is_closed()
        assert log.close_with(make_entry(4, reason="closed")) == 5
        # Another instance, still serving, is refused too (closed, not tampering).
        for closed in (log, other):
            with pytest.raises(LogClosed):
                closed.append(make_entry(5))
        assert other.is_closed() and not alerts
        final = evidence.checkpointer.checkpoint_now()
        assert final.size == 5 and log.state() == (5, final.root)
        out = tmp_path / "closed.export"
        export_range(log, evidence.tree, final, out)
        assert verify_export(out, final.note, LOG_PUB).ok
    # Forging the closed mark needs the key as much as forging an open state does.
    with open_log(make_backend(kind, loc), tmp_path / "c", alerts=alerts) as (log, _):
        fake = state_mac_key(type(LOG_KEY).generate())
        size, root = log.state()
        _raw(kind, loc, [("UPDATE {p}tlog_state SET mac = %s WHERE id = 1",
                          (closed_state_mac(fake, ORIGIN, size, root),))])
        with pytest.raises(TamperDetected):
            log.state()


def test_a_replay_left_out_of_a_group_fails_none_of_its_other_entries(  # type: ignore[no-untyped-def]
        where, tmp_path: Path) -> None:
    # One group transaction (the writer's commit) holds an innocent entry, a replay of a
    # digest another instance served, an innocent entry naming a fresh digest and a
    # refusal naming the remembered one: only the replay is left out; the others commit
    # with consecutive seqs.
    kind, loc = where
    with open_log(make_backend(kind, loc), tmp_path / "other") as (other, _):
        assert other.append(make_entry(0), request_digest="served", refuse_replay=True) == 1
    with open_log(make_backend(kind, loc), tmp_path / "this") as (log, _):
        datas = [make_entry(i).canonical_bytes() for i in range(1, 5)]
        seqs = log._commit(datas, [(1, "served", True), (2, "fresh", True),
                                   (3, "served", False)])
        assert seqs == [2, 0, 3, 4] and log.size() == 4
        assert [e.request_id for _, e in log.read(start=2, limit=3)] == [
            make_entry(i).request_id for i in (1, 3, 4)]
