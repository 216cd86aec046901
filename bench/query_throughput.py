"""QuerySubject throughput and latency over mTLS on loopback, beside a bare gRPC echo.

Run with `make bench` (or `python -m bench.query_throughput`). Each server runs in
its own process; the load generator keeps CONCURRENCY calls in flight from one
process, the same for both. Every gateway call appends a durable audit entry.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.servers import ECHO_METHOD
from gateway.api import pb
from gateway.client import CredgateClient, PartyCredentials
from gateway.config import REPO_ROOT
from gateway.records.idnumber import make_id_number

KEYS = REPO_ROOT / "keys_example"
SUBJECT = make_id_number("330106", date(1982, 4, 17), 113)


@dataclass(frozen=True)
class Result:
    """Throughput and latency of one measured run."""

    name: str
    calls: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def server_process(kind: str, data_dir: Path | None = None, *options: str) -> Iterator[int]:
    """Start bench.servers in a child process (with extra options) and yield its port."""
    cmd = [sys.executable, "-m", "bench.servers", kind, *options]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def measure(
    name: str, call: Callable[[], object], *, concurrency: int, seconds: float, warmup: float
) -> Result:
    """Run `call` from `concurrency` threads for a while; keep latencies after warm-up."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds

    def worker(slot: list[float]) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            call()
            t1 = time.perf_counter()
            if t0 >= start_at:
                slot.append((t1 - t0) * 1000)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in latencies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [x for slot in latencies for x in slot]
    return Result(name=name, calls=len(flat), seconds=seconds, latencies_ms=flat)


def load_records(client: CredgateClient) -> None:
    """A realistic subject: several categories, several records each."""
    court = [
        {
            "subject_id": SUBJECT,
            "category": "dishonest_debtor",
            "severity": "serious",
            "event_date": f"2026-0{m}-01",
            "source_record_id": f"bench-{m}",
            "fields": {
                "debtor_name": "欧阳明远",
                "case_number": f"(2026)执{m}号",
                "court_name": "某市中级人民法院",
                "obligation": "支付货款",
                "amount": "120000.00",
                "address": "浙江省杭州市西湖区文三路100号",
            },
        }
        for m in range(1, 4)
    ]
    client.submit_records(court)


def main(argv: list[str] | None = None) -> int:
    """Measure both servers and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    creds = PartyCredentials.from_keys_dir(KEYS, "org_department")

    with tempfile.TemporaryDirectory(prefix="credgate-bench-") as tmp:
        with server_process("gateway", Path(tmp)) as port:
            with CredgateClient(
                f"127.0.0.1:{port}", PartyCredentials.from_keys_dir(KEYS, "court")
            ) as court:
                load_records(court)
            with CredgateClient(f"127.0.0.1:{port}", creds) as client:
                reply = client.query_subject(SUBJECT, "cadre_selection")
                request_bytes = pb.QuerySubjectRequest(
                    subject_id=SUBJECT, purpose="cadre_selection"
                ).SerializeToString()
                gateway = measure(
                    "gateway QuerySubject",
                    lambda: client.query_subject(SUBJECT, "cadre_selection"),
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                )
                audit_seq = client.query_subject(SUBJECT, "cadre_selection").audit_seq
        with server_process("echo") as port, CredgateClient(f"127.0.0.1:{port}", creds) as client:
            echo_call = client.channel.unary_unary(ECHO_METHOD)
            echo = measure(
                "bare echo (same mTLS)",
                lambda: echo_call(request_bytes, timeout=10),
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
            )

    print(
        f"QuerySubject vs bare gRPC echo, mTLS on loopback, {args.concurrency} concurrent "
        f"callers, {args.seconds:.0f} s each; response {reply.ByteSize()} bytes, "
        f"{len(reply.records)} records; audit durable on every call "
        f"({audit_seq} entries written)"
    )
    print(f"{'':24} {'calls/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for r in (gateway, echo):
        print(
            f"{r.name:24} {r.throughput:10.0f} {r.percentile(0.50):8.2f} "
            f"{r.percentile(0.99):8.2f} {statistics.fmean(r.latencies_ms):8.2f}"
        )
    ratio = gateway.throughput / echo.throughput
    print(
        f"gateway / echo throughput: {ratio:.0%} (goal >= 40%); gateway p99 "
        f"{gateway.percentile(0.99):.2f} ms (goal < 20 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
