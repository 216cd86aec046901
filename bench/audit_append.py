"""Benchmark: durable audit appends per second, group commit against one commit per append.

Run ``python -m bench.audit_append [--threads 64] [--seconds 5] [--dir DIR]``. Both runs
use a fresh SQLite file (WAL, synchronous=FULL) in a temporary directory, so the figures
include a real fsync per commit; ``--dir`` should be on the disk the gateway will use
(a tmpfs makes fsync free and the baseline look far better than it is).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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
            f"{self.label:<24} {self.rate:>10,.0f} appends/s  {self.appends:>8,} appends"
            f"  {self.commits:>7,} commits  {self.appends / max(self.commits, 1):6.1f}/commit"
            f"  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        )


# Random-looking identifiers as the gateway sees them (W3C trace ids, base64url blind
# indexes), prepared once so the timed loop measures the entry and the log, not hashing.
_IDS = [hashlib.sha256(str(i).encode()).digest() for i in range(4096)]
_TRACE_IDS = [d[:16].hex() for d in _IDS]
_BLIND = ["bi1:" + base64.urlsafe_b64encode(d).rstrip(b"=").decode() for d in _IDS]


def make_entry(n: int) -> AuditEntry:
    """A realistic entry; distinct per n so no caching across appends helps."""
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


def run(label: str, log: SqliteAuditLog, *, threads: int, seconds: float) -> Result:
    """Let `threads` callers append for `seconds`; count durable appends."""
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def caller(i: int) -> None:
        n = i * 10_000_000
        lat = latencies[i]
        clock = time.perf_counter
        start.wait()
        while not stop.is_set():
            entry = make_entry(n)  # the gateway builds the entry per call, so we do too
            t = clock()
            log.append(entry)
            lat.append(clock() - t)
            n += 1
        counts[i] = len(lat)

    pool = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    commits0 = log.commits
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
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


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print appends per second and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_append")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report the median")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite files go")
    args = parser.parse_args(argv)

    grouped: list[Result] = []
    single: list[Result] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.rounds):
            for group_commit, results in ((True, grouped), (False, single)):
                path = Path(tmp) / f"audit-{r}-{int(group_commit)}.db"
                label = "group commit" if group_commit else "one commit per append"
                with SqliteAuditLog(path, group_commit=group_commit) as log:
                    result = run(label, log, threads=args.threads, seconds=args.seconds)
                print(result.line(), flush=True)
                results.append(result)

    g = statistics.median(x.rate for x in grouped)
    s = statistics.median(x.rate for x in single)
    print(f"threads={args.threads}  seconds={args.seconds}  rounds={args.rounds}")
    print(f"group commit:          {g:>10,.0f} durable appends/s")
    print(f"one commit per append: {s:>10,.0f} durable appends/s")
    print(f"ratio:                 {g / s:>10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
