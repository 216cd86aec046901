"""Benchmark: durable audit appends per second, group commit against one commit per append.

Run ``python -m bench.audit_append [--threads 64] [--per-thread 500] [--dir DIR]``. Each
run uses a fresh SQLite file (WAL, synchronous=FULL) in a temporary directory, so every
commit pays a real fsync; ``--dir`` should be on the disk the gateway will use (on a
tmpfs fsync is free and the baseline looks far better than it is).

The callers append entries built before the clock starts, so the figure is the log's own
cost (canonical serialisation, queueing, SQLite, fsync, waking the caller); with
``--build-in-loop`` each caller also builds its entry, as a gateway request does.
The baseline (one transaction per append) is far slower, so it runs for a fixed time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.audit.entry import AuditEntry
from gateway.audit.log import SqliteAuditLog

T0 = datetime(2024, 5, 1, tzinfo=UTC)

# Random-looking identifiers as the gateway sees them (W3C trace ids, base64url blind
# indexes), prepared once so building an entry costs what it costs in the gateway.
_IDS = [hashlib.sha256(str(i).encode()).digest() for i in range(4096)]
_TRACE_IDS = [d[:16].hex() for d in _IDS]
_BLIND = ["bi1:" + base64.urlsafe_b64encode(d).rstrip(b"=").decode() for d in _IDS]


@dataclass(frozen=True)
class Result:
    """What one benchmark run measured."""

    label: str
    appends: int
    seconds: float
    commits: int
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        """Durable appends per second."""
        return self.appends / self.seconds

    def line(self) -> str:
        """One human-readable summary line."""
        lat = sorted(self.latencies_ms)
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"{self.label:<22} {self.rate:>9,.0f} appends/s {self.appends:>8,} appends"
            f" {self.commits:>7,} commits {self.appends / max(self.commits, 1):6.1f}/commit"
            f"  latency p50 {p50:6.2f} ms p99 {p99:6.2f} ms"
        )


def make_entry(n: int) -> AuditEntry:
    """A realistic entry; distinct per n so nothing is shared between appends."""
    k = n % len(_IDS)
    return AuditEntry(
        time=T0 + timedelta(microseconds=n),
        trace_id=_TRACE_IDS[k],
        requester="agency.acme-credit",
        action="query.subject",
        purpose="loan_application",
        subject_index=_BLIND[k],
        categories=("tax_rating", "dishonest_debtor"),
        fields_released=("tax_rating.grade", "dishonest_debtor.case_number"),
        consent_id=f"consent-{k:06d}",
        policy_rule="p, role:credit_agency, tax_rating, query, loan_application",
        policy_version="2024-05-01.3",
        decision="allow",
        reason="",
        request_id=f"req-{n:x}",
        record_count=2,
    )


def run(
    label: str,
    log: SqliteAuditLog,
    *,
    threads: int,
    per_thread: int,
    seconds: float | None,
    build_in_loop: bool,
) -> Result:
    """Let `threads` callers append `per_thread` entries each (or stop after `seconds`)."""
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    # Fresh entry objects per run, so no canonical bytes are cached from an earlier run.
    batches = [
        [] if build_in_loop else [make_entry(i * per_thread + k) for k in range(per_thread)]
        for i in range(threads)
    ]
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def caller(i: int) -> None:
        lat = latencies[i]
        clock = time.perf_counter
        mine = batches[i]
        start.wait()
        for k in range(per_thread):
            if stop.is_set():
                break
            entry = make_entry(i * per_thread + k) if build_in_loop else mine[k]
            t = clock()
            log.append(entry)
            lat.append(clock() - t)
        counts[i] = len(lat)

    pool = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    commits0 = log.commits
    start.wait()
    began = time.perf_counter()
    if seconds is not None:
        stop.wait(seconds)
        stop.set()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    total = sum(counts)
    if log.size() < total:
        raise SystemExit(f"{label}: {total} appends acknowledged but only {log.size()} stored")
    return Result(
        label=label,
        appends=total,
        seconds=elapsed,
        commits=log.commits - commits0,
        latencies_ms=[x * 1000 for lat in latencies for x in lat],
    )


def fsync_latency_ms(directory: Path) -> float:
    """Median time of a 4 KiB write plus fsync in `directory`: the floor of one commit."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        samples = []
        for _ in range(30):
            t = time.perf_counter()
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
            samples.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print appends per second and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_append")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--per-thread", type=int, default=500, help="appends per caller")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="repeat; report the median")
    parser.add_argument("--build-in-loop", action="store_true", help="callers build entries")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite files go")
    args = parser.parse_args(argv)

    grouped: list[Result] = []
    single: list[Result] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"fsync of 4 KiB in {tmp}: {fsync_latency_ms(Path(tmp)):.2f} ms (median)")
        print(f"load average before: {os.getloadavg()[0]:.2f}, CPUs: {os.cpu_count()}")
        for r in range(args.rounds):
            for group_commit, results in ((True, grouped), (False, single)):
                path = Path(tmp) / f"audit-{r}-{int(group_commit)}.db"
                label = "group commit" if group_commit else "one commit per append"
                with SqliteAuditLog(path, group_commit=group_commit) as log:
                    result = run(
                        label,
                        log,
                        threads=args.threads,
                        per_thread=args.per_thread,
                        seconds=None if group_commit else args.baseline_seconds,
                        build_in_loop=args.build_in_loop,
                    )
                print(result.line(), flush=True)
                results.append(result)
        print(f"load average after: {os.getloadavg()[0]:.2f}")

    g = statistics.median(x.rate for x in grouped)
    s = statistics.median(x.rate for x in single)
    built = "built in the loop" if args.build_in_loop else "built beforehand"
    print(f"threads={args.threads}  rounds={args.rounds}  entries {built}  (medians)")
    print(f"group commit:          {g:>10,.0f} durable appends/s")
    print(f"one commit per append: {s:>10,.0f} durable appends/s")
    print(f"ratio:                 {g / s:>10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
