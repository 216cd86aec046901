"""QuerySubject throughput and latency over mTLS on loopback, beside a bare gRPC echo.

Run with `make bench` (or `python -m bench.query_throughput`). Each server runs in
its own process; the load generator keeps CONCURRENCY calls in flight from one
process, the same for both. Every gateway call appends a durable audit entry.
"""

from __future__ import annotations

import argparse
import signal
import socket
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

from bench.proc_stats import ProcessCounters, child_pids, read_tree_counters
from bench.servers import ECHO_METHOD
from gateway.api import pb
from gateway.client import CredgateClient, PartyCredentials
from gateway.config import REPO_ROOT
from gateway.pii.idnumber import make_id_number

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


@dataclass(frozen=True)
class ServerProcess:
    """A benchmark server running in a child process."""

    port: int
    pid: int


@contextmanager
def server_process(kind: str, data_dir: Path | None = None, *options: str,
                   prefix: tuple[str, ...] = ()) -> Iterator[ServerProcess]:
    """Start bench.servers in a child process (with extra options, maybe under a tool)."""
    cmd = [*prefix, sys.executable, "-m", "bench.servers", kind, *options]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert proc.stdout is not None
        yield ServerProcess(port=int(proc.stdout.readline()), pid=proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=120)


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


@dataclass(frozen=True)
class Measured:
    """One server's throughput and latency, and what the calls cost the server."""

    result: Result
    cost: ProcessCounters

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cost.cpu_seconds / self.result.calls

    @property
    def switches_per_call(self) -> float:
        return self.cost.voluntary_switches / self.result.calls


def measure_server(name: str, call: Callable[[], object], pids: Callable[[], list[int]],
                   args: argparse.Namespace) -> Measured:
    """Warm up, then measure calls with the server's CPU and switches over the same window."""
    measure(name, call, concurrency=args.concurrency, seconds=args.warmup, warmup=0)
    before = read_tree_counters(pids())
    result = measure(name, call, concurrency=args.concurrency, seconds=args.seconds, warmup=0)
    return Measured(result=result, cost=read_tree_counters(pids()) - before)


def serve_supports_workers() -> bool:
    """Whether `credgate serve` can run several worker processes on one port."""
    out = subprocess.run([sys.executable, "-m", "gateway", "serve", "--help"],
                         capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    return "--workers" in out.stdout


def free_port() -> int:
    """A port nothing listens on now (the workers of `serve` need a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_workers(workers: int, data_dir: Path) -> Iterator[ServerProcess]:
    """`credgate serve --workers N` in a child process, ready to answer."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "bench.toml"
    config.write_text("[gateway]\ndevelopment = true\naudit_checkpoint_interval_s = 0\n")
    cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(config),
           "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir / "data"),
           "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    try:
        creds = PartyCredentials.from_keys_dir(KEYS, "court")
        deadline = time.monotonic() + 60
        while True:
            try:
                with CredgateClient(f"127.0.0.1:{port}", creds) as court:
                    load_records(court)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve --workers {workers} did not start") from None
                time.sleep(0.5)
        yield ServerProcess(port=port, pid=proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def query_gateway(port: int, args: argparse.Namespace, name: str,
                  pids: Callable[[], list[int]]) -> Measured:
    """QuerySubject as the organisation department, 3 records released per answer."""
    creds = PartyCredentials.from_keys_dir(KEYS, "org_department")
    with CredgateClient(f"127.0.0.1:{port}", creds) as client:
        return measure_server(name, lambda: client.query_subject(SUBJECT, "cadre_selection"),
                              pids, args)


def main(argv: list[str] | None = None) -> int:
    """Measure the servers in one run and print the comparison with the goals."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2,
                        help="also measure `serve --workers N` (0 skips it)")
    args = parser.parse_args(argv)
    creds = PartyCredentials.from_keys_dir(KEYS, "org_department")
    request_bytes = pb.QuerySubjectRequest(
        subject_id=SUBJECT, purpose="cadre_selection").SerializeToString()
    runs: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="credgate-bench-") as tmp:
        with server_process("gateway", Path(tmp)) as server:
            with CredgateClient(f"127.0.0.1:{server.port}",
                                PartyCredentials.from_keys_dir(KEYS, "court")) as court:
                load_records(court)
            with CredgateClient(f"127.0.0.1:{server.port}", creds) as client:
                reply = client.query_subject(SUBJECT, "cadre_selection")
            gateway = query_gateway(server.port, args, "gateway QuerySubject",
                                    lambda: [server.pid])
            runs.append(gateway)
        with server_process("echo") as server, \
                CredgateClient(f"127.0.0.1:{server.port}", creds) as client:
            echo_call = client.channel.unary_unary(ECHO_METHOD)
            echo = measure_server("bare echo (same mTLS)",
                                  lambda: echo_call(request_bytes, timeout=10),
                                  lambda: [server.pid], args)
            runs.append(echo)
        several: Measured | None = None
        if args.workers > 1 and serve_supports_workers():
            with serve_workers(args.workers, Path(tmp) / "workers") as server:
                def tree(pid: int = server.pid) -> list[int]:
                    return [pid, *child_pids(pid)]
                several = query_gateway(server.port, args,
                                        f"gateway, serve --workers {args.workers}", tree)
                runs.append(several)

    print(
        f"QuerySubject vs bare gRPC echo, mTLS on loopback, {args.concurrency} concurrent "
        f"callers, {args.seconds:.0f} s each; response {reply.ByteSize()} bytes, "
        f"{len(reply.records)} records; audit durable on every call"
    )
    print(f"{'':34} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/call':>11} "
          f"{'vol. cs/call':>12}")
    for m in runs:
        r = m.result
        print(f"{r.name:34} {r.throughput:8.0f} {r.percentile(0.50):7.2f} "
              f"{r.percentile(0.99):7.2f} {m.cpu_ms_per_call:11.3f} {m.switches_per_call:12.1f}")
    print(f"gateway / echo: calls/s {gateway.result.throughput / echo.result.throughput:.0%}; "
          f"server CPU per call {gateway.cpu_ms_per_call / echo.cpu_ms_per_call:.2f}x "
          "(goal <= 3x)")
    print(f"voluntary context switches per call: {gateway.switches_per_call:.1f} "
          f"(echo {echo.switches_per_call:.1f}; goal <= 12)")
    print(f"gateway p99 {gateway.result.percentile(0.99):.2f} ms (goal < 10 ms)")
    if several is not None:
        print(f"serve --workers {args.workers} / one process, calls/s: "
              f"{several.result.throughput / gateway.result.throughput:.2f}x (goal >= 1.4x)")
    else:
        print("serve --workers: not measured (this build of `credgate serve` has no --workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
