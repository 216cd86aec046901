"""Benchmark: shared-log appends/s with 1, 2 and 4 writer processes, SQLite and PostgreSQL.

Run ``python -m bench.shared_log [--seconds 4] [--threads 32] [--pg URL]``. Beside the
shared log it runs today's single-process group commit (``SqliteAuditLog``, one writer
thread, no tree-state row) with the same callers, as the same-run baseline.

Each writer process opens the shared log as a gateway does (``SharedAuditLog``: one
transaction per group that locks the tree-state row, checks its MAC, extends the
frontier, inserts the group and commits) and runs ``--threads`` callers appending
entries of about 700 bytes for ``--seconds``; the figure is the sum over processes of
committed appends divided by the time. PostgreSQL runs in a fresh schema, dropped after.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.audit.backend import Backend, PostgresBackend, SqliteBackend
from gateway.audit.entry import AuditEntry
from gateway.audit.log import SqliteAuditLog
from gateway.audit.seen import SeenCheckpoint
from gateway.audit.shared import SharedAuditLog
from gateway.config import REPO_ROOT
from gateway.crypto.signatures import load_signing_key

KEY = REPO_ROOT / "keys_example" / "gateway.log.key"
ORIGIN = "credgate.bench/shared-log"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def entry(n: int) -> AuditEntry:
    """An entry of about 700 canonical bytes."""
    return AuditEntry(
        time=T0 + timedelta(microseconds=n), trace_id=f"{n:032x}", requester="agency.acme",
        action="query.subject", purpose="loan_application", subject_index=f"bi1:{n:043x}",
        categories=("tax_rating", "court_judgement"),
        fields_released=("tax_rating.grade", "court_judgement.case_no"),
        consent_id=f"consent-{n:024x}", policy_rule="p, agency, tax_rating, query, loan",
        policy_version="v" + "0" * 11, decision="allow", reason="",
        request_id=f"req-{n:032x}",
        request_signature="v1 2024-05-01T00:00:00Z " + "ab" * 32 + " " + "A" * 36,
        record_count=3)


def _backend(kind: str, where: str) -> Backend:
    if kind == "sqlite":
        return SqliteBackend(Path(where) / "audit.db")
    url, schema = where.split("|")
    return PostgresBackend(url, schema=schema)


_ITEMS = [entry(i) for i in range(4096)]


FAILURES: list[str] = []


def _run_callers(append: object, threads: int, seconds: float, start_at: float) -> int:
    counts = [0] * threads
    stop_at = start_at + seconds

    def caller(k: int) -> None:
        items = _ITEMS
        while time.time() < start_at:
            time.sleep(0.001)
        i = k * 128
        ok = 0
        while time.time() < stop_at:
            try:
                append(items[i % 4096])  # type: ignore[operator]
                ok += 1
            except Exception as exc:  # counted, not fatal: the figure is committed appends
                FAILURES.append(f"{type(exc).__name__}: {getattr(exc, 'detail', '')}")
            i += 1
        counts[k] = ok

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts)


def _writer(kind: str, where: str, data_dir: str, threads: int, seconds: float,
            ready: mp.Queue, start: mp.Queue, out: mp.Queue) -> None:
    key = load_signing_key(KEY)
    seen = SeenCheckpoint(Path(data_dir) / "seen", key.verify_key, ORIGIN)
    log = SharedAuditLog(_backend(kind, where), signing_key=key, origin=ORIGIN, seen=seen)
    try:
        ready.put(True)
        start_at = start.get(timeout=300)  # every process opened: start together
        count = _run_callers(log.append, threads, seconds, start_at)
        out.put((count, log.commits))
        if FAILURES:
            print(f"  {len(FAILURES)} failed appends, first: {FAILURES[0]}")
    finally:
        log.close()


def shared(kind: str, where: str, processes: int, threads: int,
           seconds: float) -> tuple[float, float]:
    """(appends/s, entries per commit) of ``processes`` writer processes on one log."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    ready: mp.Queue = ctx.Queue()
    start: mp.Queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [ctx.Process(target=_writer, args=(kind, where, f"{tmp}/{k}", threads,
                                                   seconds, ready, start, out))
                 for k in range(processes)]
        for k, p in enumerate(procs):
            Path(f"{tmp}/{k}").mkdir()
            p.start()
        for _ in procs:
            ready.get(timeout=300)
        start_at = time.time() + 0.5
        for _ in procs:
            start.put(start_at)
        results = [out.get(timeout=300) for _ in procs]
        for p in procs:
            p.join()
    total = sum(c for c, _ in results)
    commits = sum(m for _, m in results)
    return total / seconds, total / max(1, commits)


def baseline(threads: int, seconds: float) -> tuple[float, float]:
    """Today's per-instance group commit: one process, one SQLite file, no state row."""
    with tempfile.TemporaryDirectory() as tmp:
        log = SqliteAuditLog(Path(tmp) / "audit.db")
        try:
            count = _run_callers(log.append, threads, seconds, time.time() + 0.5)
            return count / seconds, count / max(1, log.commits)
        finally:
            log.close()


def main() -> None:
    """Print appends/s for each set-up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--processes", default="1,2,4", help="comma-separated counts")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    print(f"entry size {len(entry(1).canonical_bytes())} bytes, {args.threads} callers per "
          f"process, {args.seconds:g} s per run")
    if not args.no_baseline:
        rate, per = baseline(args.threads, args.seconds)
        print(f"{'baseline: per-instance SqliteAuditLog, 1 process':58s} {rate:9,.0f}/s "
              f"{per:6.1f}/commit")
    if not args.no_pg:
        import psycopg

        table = f"bench_commit_{uuid.uuid4().hex[:8]}"  # logged: a temp table has no WAL
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (x int)")
            t = time.perf_counter()
            for _ in range(100):
                with conn.transaction():
                    conn.execute(f"INSERT INTO {table} VALUES (1)")
            ms = (time.perf_counter() - t) * 10
            conn.execute(f"DROP TABLE {table}")
        print(f"{'PostgreSQL: one bare INSERT + COMMIT (the fsync floor)':58s} {ms:9.2f} ms")
    kinds = ["sqlite"] if args.no_pg else (["postgres"] if args.no_sqlite
                                           else ["sqlite", "postgres"])
    for kind in kinds:
        for processes in map(int, args.processes.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                schema = f"credgate_bench_{uuid.uuid4().hex[:8]}"
                where = tmp if kind == "sqlite" else f"{args.pg}|{schema}"
                backend = _backend(kind, where)
                backend.create_schema()
                try:
                    rate, per = shared(kind, where, processes, args.threads, args.seconds)
                finally:
                    if kind == "postgres":
                        import psycopg

                        with psycopg.connect(args.pg, autocommit=True) as conn:
                            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            label = f"shared log on {kind}, {processes} writer process(es)"
            print(f"{label:58s} {rate:9,.0f}/s {per:6.1f}/commit")


if __name__ == "__main__":
    main()
