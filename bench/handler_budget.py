"""Benchmark: how much request-path CPU a gateway may spend and still keep up with the echo.

Run ``python -m bench.handler_budget [--work 0,100,200,300,400,600] [--seconds 5]``.
Beside the bare echo of ``bench.query_throughput`` (same mTLS, same 8 callers), it runs
the "budget" server of ``bench.servers`` once per amount of work: a handler that burns
that many microseconds of CPU under the GIL, appends a real durable audit entry with
group commit and answers 1,190 bytes, as QuerySubject does. The table says which
per-call CPU budget reaches which share of the echo's throughput on this machine; the
gateway's own request path is then measured against it (bench/README.md).
"""

from __future__ import annotations

import argparse
import sys

from bench.query_throughput import KEYS, Result, measure, server_process
from bench.servers import BUDGET_METHOD, ECHO_METHOD
from gateway.client import CredgateClient, PartyCredentials

REQUEST = b"q" * 60  # about the size of a serialised QuerySubjectRequest


def _run(name: str, kind: str, method: str, args: argparse.Namespace, *options: str
         ) -> Result:
    creds = PartyCredentials.from_keys_dir(KEYS, "org_department")
    with server_process(kind, None, *options) as server, \
            CredgateClient(f"127.0.0.1:{server.port}", creds) as client:
        call = client.channel.unary_unary(method)
        return measure(name, lambda: call(REQUEST, timeout=10),
                       concurrency=args.concurrency, seconds=args.seconds,
                       warmup=args.warmup)


def main(argv: list[str] | None = None) -> int:
    """Measure the echo, then the budget server at each amount of work, and print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="0,100,200,300,400,600",
                        help="comma-separated CPU microseconds per call")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    works = [float(w) for w in args.work.split(",") if w.strip()]

    echo = _run("bare echo (same mTLS)", "echo", ECHO_METHOD, args)
    print(f"{'request-path CPU':>18} {'calls/s':>9} {'of echo':>8} {'p50 ms':>7} {'p99 ms':>7}")
    print(f"{'bare echo':>18} {echo.throughput:9.0f} {'100%':>8} "
          f"{echo.percentile(0.5):7.2f} {echo.percentile(0.99):7.2f}")
    for work in works:
        result = _run(f"{work:.0f} us", "budget", BUDGET_METHOD, args, "--work-us", str(work))
        print(f"{work:>15.0f} us {result.throughput:9.0f} "
              f"{result.throughput / echo.throughput:8.0%} "
              f"{result.percentile(0.5):7.2f} {result.percentile(0.99):7.2f}", flush=True)
    print("each budget row: that much CPU per call, a durable audit append (group commit) "
          "and a 1,190-byte answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
