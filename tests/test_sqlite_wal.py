"""Processes that open the same new SQLite files at the same moment all start.

`serve --workers N` and a second instance on a fresh data directory open the record store
and the audit files together. The switch to WAL mode on a new file used to answer
"database is locked" at once to all but one of them, and a worker stopped at start.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gateway.audit.backend import SqliteBackend
from gateway.audit.checkpointer import CheckpointStore
from gateway.audit.log import SqliteAuditLog
from gateway.records.sqlite_store import SqliteStore
from gateway.sqlite_wal import use_wal

OPENERS = 3
ROUNDS = 6


def _open_all(data: str, start: multiprocessing.synchronize.Event,
              results: multiprocessing.Queue) -> None:
    """Open every SQLite file of a data directory the way an instance does at start."""
    start.wait()
    try:
        store = SqliteStore(Path(data) / "records.db")
        store.close()
        log = SqliteAuditLog(Path(data) / "audit.db")
        log.close()
        SqliteBackend(Path(data) / "shared.db").connect(writer=True).close()
        CheckpointStore(Path(data) / "checkpoints.db").close()
        results.put("ok")
    except Exception as exc:  # the test reports what went wrong, in the parent
        results.put(f"{type(exc).__name__}: {exc} {getattr(exc, 'detail', '')}")


def test_instances_opening_a_fresh_data_directory_together_all_start(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    failures = []
    for round_no in range(ROUNDS):
        data = tmp_path / f"round{round_no}"
        data.mkdir()
        start = context.Event()
        results = context.Queue()
        procs = [context.Process(target=_open_all, args=(str(data), start, results))
                 for _ in range(OPENERS)]
        for proc in procs:
            proc.start()
        time.sleep(0.5)  # all of them at the barrier (spawned interpreters import first)
        start.set()
        answers = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        failures += [a for a in answers if a != "ok"]
    assert failures == []


def test_the_switch_waits_for_a_holder_that_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    use_wal(opener, timeout_s=10)
    assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_switch_fails_closed_when_the_file_stays_locked(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    began = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(opener, timeout_s=0.3)
    assert time.monotonic() - began >= 0.3
    holder.execute("ROLLBACK")
