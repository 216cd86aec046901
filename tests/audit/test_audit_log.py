"""SqliteAuditLog on real SQLite files: durability, group commit, append-only, fail closed."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gateway.audit.entry import MalformedAuditEntry
from gateway.audit.log import AuditLog, SqliteAuditLog, _Group
from gateway.errors import AuditUnavailable, InvalidArgument
from tests.audit.tamper import make_entry
from tests.threads import run_together


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def log(path: Path) -> Iterator[SqliteAuditLog]:
    with SqliteAuditLog(path, busy_timeout_ms=300) as opened:
        yield opened


def _other(path: Path) -> sqlite3.Connection:
    """A second, independent client of the same file (another process, an attacker)."""
    return sqlite3.connect(path, isolation_level=None, timeout=0.1)


def test_satisfies_protocol(log: SqliteAuditLog) -> None:
    checked: AuditLog = log
    assert checked.size() == 0


def test_file_is_wal_with_the_documented_table(log: SqliteAuditLog, path: Path) -> None:
    other = _other(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [(r[1], r[2], r[3], r[5]) for r in other.execute("PRAGMA table_info(audit_log)")]
    assert cols == [("seq", "INTEGER", 0, 1), ("entry", "BLOB", 1, 0)]
    other.close()


def test_append_returns_increasing_seqs_and_survives_reopen(path: Path) -> None:
    entries = [make_entry(n) for n in range(5)]
    with SqliteAuditLog(path) as log:
        assert [log.append(e) for e in entries[:3]] == [1, 2, 3]
        assert log.append_many(entries[3:]) == [4, 5]
        assert log.append_many([]) == []
        assert log.size() == 5
    with SqliteAuditLog(path) as log:
        assert log.size() == 5
        assert log.read() == list(enumerate(entries, start=1))
        assert log.read(start=4, limit=1) == [(4, entries[3])]
        assert log.read(start=6) == []
        assert log.append(make_entry(9)) == 6
    stored = _other(path).execute("SELECT entry FROM audit_log WHERE seq = 2").fetchone()[0]
    assert stored == entries[1].canonical_bytes()  # the canonical bytes, exactly


def test_concurrent_appends_are_grouped(log: SqliteAuditLog) -> None:
    threads, per_thread = 16, 200

    def worker(i: int) -> list[int]:
        return [log.append(make_entry(i * per_thread + k)) for k in range(per_thread)]

    results = run_together(worker, [(i,) for i in range(threads)])
    seqs = [s for r in results for s in r]
    total = threads * per_thread
    assert sorted(seqs) == list(range(1, total + 1))
    assert all(r == sorted(r) for r in results)  # each caller's appends stay in order
    assert log.size() == total
    assert log.commits < total // 4, log.commits
    # Each caller got the seq under which its own entry was stored.
    by_seq = dict(log.read(start=1, limit=total))
    for i, r in enumerate(results):
        for k, seq in enumerate(r):
            assert by_seq[seq].request_id == f"req-{i * per_thread + k}"


class _InterruptedOnce:
    """A held waiter lock whose first acquire is interrupted, as Ctrl-C does in main."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.interrupted = False

    def acquire(self) -> bool:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return self.lock.acquire()

    def release(self) -> None:
        self.lock.release()


def test_an_interrupted_caller_does_not_strand_the_callers_after_it() -> None:
    group = _Group()
    group.waiters = [threading.Lock(), _InterruptedOnce(), threading.Lock()]  # type: ignore[list-item]
    for waiter in (group.waiters[0], group.waiters[2]):
        waiter.acquire()
    woken: list[int] = []
    interrupted: list[int] = []

    def caller(position: int) -> None:
        try:
            group.wait(position)
            woken.append(position)
        except KeyboardInterrupt:
            interrupted.append(position)

    callers = [threading.Thread(target=caller, args=(p,)) for p in (0, 1, 2)]
    for t in callers:
        t.start()
    callers[1].join(timeout=5)
    assert interrupted == [1]
    group.wake()
    for t in callers:
        t.join(timeout=5)
    assert sorted(woken) == [0, 2]  # the relay went on past the interrupted caller


def test_without_group_commit_each_append_is_one_transaction(path: Path) -> None:
    with SqliteAuditLog(path, group_commit=False) as log:
        assert [log.append(make_entry(n)) for n in range(4)] == [1, 2, 3, 4]
        assert log.append_many([make_entry(5), make_entry(6)]) == [5, 6]
        assert log.commits == 5


def test_append_many_larger_than_a_group_stays_together(path: Path) -> None:
    with SqliteAuditLog(path, max_group=4) as log:
        log.append(make_entry(0))
        assert log.append_many([make_entry(n) for n in range(1, 11)]) == list(range(2, 12))


def test_on_commit_sees_every_group_in_order(path: Path) -> None:
    seen: list[tuple[int, list[bytes]]] = []

    def on_commit(first: int, datas: Sequence[bytes]) -> None:
        seen.append((first, list(datas)))

    entries = [make_entry(n) for n in range(6)]
    with SqliteAuditLog(path, on_commit=on_commit) as log:
        log.append(entries[0])
        log.append_many(entries[1:4])
        log.append_many(entries[4:])
    assert seen == [
        (1, [entries[0].canonical_bytes()]),
        (2, [e.canonical_bytes() for e in entries[1:4]]),
        (5, [e.canonical_bytes() for e in entries[4:]]),
    ]


def test_on_commit_errors_are_logged_not_fatal(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def on_commit(first: int, datas: Sequence[bytes]) -> None:
        raise RuntimeError("merkle tree broken")

    with SqliteAuditLog(path, on_commit=on_commit) as log:
        with caplog.at_level(logging.ERROR, logger="gateway.audit.log"):
            assert log.append(make_entry(1)) == 1  # the entry is durable all the same
        assert log.on_commit_errors == 1
    assert "on_commit callback failed" in caplog.text
    assert "merkle tree broken" in caplog.text


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET entry = x'00' WHERE seq = 1",
        "UPDATE audit_log SET seq = 99",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
        "INSERT OR REPLACE INTO audit_log (seq, entry) VALUES (1, x'00')",
        "INSERT INTO audit_log (seq, entry) VALUES (2, x'00') "
        "ON CONFLICT (seq) DO UPDATE SET entry = excluded.entry",
        "INSERT INTO audit_log (seq, entry) VALUES (10, x'00')",
        "INSERT INTO audit_log (entry) VALUES (x'00')",
    ],
)
def test_database_refuses_changes_to_the_log(log: SqliteAuditLog, path: Path, sql: str) -> None:
    entries = [make_entry(n) for n in range(3)]
    log.append_many(entries)
    other = _other(path)
    with pytest.raises(sqlite3.DatabaseError, match="audit_log"):
        other.execute(sql)
    other.close()
    assert log.read() == list(enumerate(entries, start=1))


def test_a_foreign_row_that_does_not_parse_is_reported(log: SqliteAuditLog, path: Path) -> None:
    log.append(make_entry(1))
    other = _other(path)
    other.execute("INSERT INTO audit_log (seq, entry) VALUES (2, x'7b7d')")
    other.close()
    with pytest.raises(MalformedAuditEntry):
        log.read()
    assert log.read_raw(start=2) == [(2, b"{}")]


def test_write_lock_held_elsewhere_fails_within_busy_timeout(
    log: SqliteAuditLog, path: Path
) -> None:
    assert log.append(make_entry(0)) == 1
    other = _other(path)
    other.execute("BEGIN EXCLUSIVE")
    outcomes: list[object] = []

    def caller(n: int) -> None:
        try:
            outcomes.append(log.append(make_entry(n)))
        except AuditUnavailable as exc:
            outcomes.append(exc)

    callers = [threading.Thread(target=caller, args=(n,)) for n in range(1, 9)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(timeout=30)  # only guards against a hang; busy_timeout is 300 ms
    # Every caller gave up while the lock is still held (it is released only below):
    # a writer fails closed after busy_timeout, it never waits for the lock's holder.
    assert not any(t.is_alive() for t in callers)
    assert len(outcomes) == 8
    assert all(isinstance(o, AuditUnavailable) for o in outcomes)
    assert all(o.status == "UNAVAILABLE" for o in outcomes if isinstance(o, AuditUnavailable))
    assert log.size() == 1  # reads still work while the write lock is held
    other.execute("ROLLBACK")
    other.close()
    assert log.append(make_entry(9)) == 2  # nothing of the failed groups was committed
    assert [e.request_id for _, e in log.read()] == ["req-0", "req-9"]


def test_dropped_table_fails_closed(log: SqliteAuditLog, path: Path) -> None:
    log.append(make_entry(0))
    other = _other(path)
    other.execute("DROP TABLE audit_log")
    other.close()
    with pytest.raises(AuditUnavailable):
        log.append(make_entry(1))
    with pytest.raises(AuditUnavailable):
        log.append_many([make_entry(2), make_entry(3)])
    with pytest.raises(AuditUnavailable):
        log.size()


def test_append_after_close_fails(path: Path) -> None:
    for group_commit in (True, False):
        log = SqliteAuditLog(path, group_commit=group_commit)
        log.append(make_entry(0))
        log.close()
        log.close()  # idempotent
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(1))
        with pytest.raises(AuditUnavailable):
            log.read()


def test_close_commits_what_is_queued(path: Path) -> None:
    log = SqliteAuditLog(path)
    results: list[object] = []

    def caller(n: int) -> None:
        try:
            results.append(log.append(make_entry(n)))
        except AuditUnavailable as exc:
            results.append(exc)

    callers = [threading.Thread(target=caller, args=(n,)) for n in range(32)]
    for t in callers:
        t.start()
    log.close()
    for t in callers:
        t.join(timeout=10)
    committed = sorted(r for r in results if isinstance(r, int))
    assert len(results) == 32
    with SqliteAuditLog(path) as reopened:
        # Every caller told "durable" is in the file; every other caller was refused.
        assert reopened.size() == len(committed)
        assert committed == list(range(1, len(committed) + 1))


def test_reads_run_while_writes_go_on(log: SqliteAuditLog) -> None:
    stop = threading.Event()
    observed: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def reader(mine: list[int]) -> None:
        try:
            while not stop.is_set():
                size = log.size()
                first = max(1, size - 5)
                seqs = [s for s, _ in log.read(start=first, limit=10)]
                # Everything up to the size seen is readable, in order, without gaps.
                assert seqs[: size - first + 1] == list(range(first, size + 1))
                mine.append(size)
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(mine,)) for mine in observed]
    for t in threads:
        t.start()
    for n in range(300):
        log.append(make_entry(n))
    stop.set()
    for t in threads:
        t.join()
    assert not failures
    for mine in observed:
        assert mine and mine == sorted(mine)
    assert log.size() == 300


def test_bad_read_arguments(log: SqliteAuditLog) -> None:
    with pytest.raises(InvalidArgument):
        log.read(start=0)
    with pytest.raises(InvalidArgument):
        log.read(limit=-1)


def test_unopenable_file_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(AuditUnavailable):
        SqliteAuditLog(tmp_path / "missing-dir" / "audit.db")


def test_two_writers_on_one_file_number_correctly(path: Path) -> None:
    # Not the intended deployment (one writer per file), but seqs must stay right if it
    # happens: each is computed inside the inserting statement, under the write lock.
    logs = [SqliteAuditLog(path), SqliteAuditLog(path)]

    def worker(i: int) -> list[tuple[int, str]]:
        entries = [make_entry(i * 1000 + k) for k in range(50)]
        return [(logs[i % 2].append(entry), entry.request_id) for entry in entries]

    got = [pair for mine in run_together(worker, [(i,) for i in range(8)]) for pair in mine]
    assert sorted(s for s, _ in got) == list(range(1, 401))
    stored = {seq: e.request_id for seq, e in logs[0].read(limit=400)}
    assert all(stored[seq] == rid for seq, rid in got)
    for log in logs:
        log.close()
