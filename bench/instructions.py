"""Server instructions per call, counted by valgrind's callgrind: QuerySubject vs the echo.

Instructions do not depend on what else the machine is doing, so this is the figure to
compare between runs and sessions. Each server runs under
``valgrind --tool=callgrind --instr-atstart=no`` (start-up is not counted); after a
warm-up, ``callgrind_control -i on`` starts counting, the load generator (not under
valgrind) makes CALLS calls from 8 threads, and ``callgrind_control -i off`` stops. The
total over all server threads, divided by the calls, is the figure. Run with
``make bench-instructions`` (a few minutes: valgrind runs the server ~50 times slower).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bench.query_throughput import KEYS, SUBJECT, load_records, server_process
from bench.servers import ECHO_METHOD
from gateway.api import pb
from gateway.client import CredgateClient, PartyCredentials


def run_calls(call: Callable[[], object], calls: int, concurrency: int) -> None:
    """Make `calls` calls from `concurrency` threads."""
    remaining = iter(range(calls))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            call()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _control(pid: int, *options: str) -> None:
    subprocess.run(["callgrind_control", *options, str(pid)], check=True,
                   capture_output=True)


def total_instructions(out_files: list[Path]) -> int:
    """The instructions (Ir) of callgrind's output files, all threads and parts summed."""
    total = 0
    for path in out_files:
        # "totals:" sums the cost lines; "summary:" can read 0 when counting was switched
        # off before the final dump, so the larger of the two is the count.
        found = [int(line.split()[1]) for line in path.read_text(errors="replace").splitlines()
                 if line.startswith(("summary:", "totals:"))]
        total += max(found, default=0)
    return total


def count(kind: str, tmp: Path, setup: Callable[[int], Callable[[], object]], *,
          calls: int, warmup: int, concurrency: int) -> float:
    """Instructions per call of one benchmark server, all its threads."""
    out = tmp / f"{kind}.callgrind"
    prefix = ("valgrind", "-q", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no",
              f"--callgrind-out-file={out}.%p")
    data_dir = tmp / kind
    data_dir.mkdir()
    with server_process(kind, data_dir if kind == "gateway" else None,
                        prefix=prefix) as server:
        call = setup(server.port)
        run_calls(call, warmup, concurrency)
        _control(server.pid, "-i", "on")
        run_calls(call, calls, concurrency)
        _control(server.pid, "-i", "off")
    return total_instructions(sorted(tmp.glob(f"{kind}.callgrind.*"))) / calls


def main(argv: list[str] | None = None) -> int:
    """Count both servers' instructions per call and print the ratio with its goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep callgrind's files in DIR (for callgrind_annotate)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    creds = PartyCredentials.from_keys_dir(KEYS, "org_department")
    request_bytes = pb.QuerySubjectRequest(
        subject_id=SUBJECT, purpose="cadre_selection").SerializeToString()
    clients: list[CredgateClient] = []

    def gateway_calls(port: int) -> Callable[[], object]:
        with CredgateClient(f"127.0.0.1:{port}",
                            PartyCredentials.from_keys_dir(KEYS, "court")) as court:
            load_records(court)
        client = CredgateClient(f"127.0.0.1:{port}", creds)
        clients.append(client)
        return lambda: client.query_subject(SUBJECT, "cadre_selection", timeout=120)

    def echo_calls(port: int) -> Callable[[], object]:
        client = CredgateClient(f"127.0.0.1:{port}", creds)
        clients.append(client)
        echo = client.channel.unary_unary(ECHO_METHOD)
        return lambda: echo(request_bytes, timeout=120)

    options = {"calls": args.calls, "warmup": args.warmup, "concurrency": args.concurrency}
    try:
        with tempfile.TemporaryDirectory(prefix="credgate-callgrind-") as tmp:
            out = args.keep or Path(tmp)
            out.mkdir(parents=True, exist_ok=True)
            gateway = count("gateway", out, gateway_calls, **options)
            echo = count("echo", out, echo_calls, **options)
    finally:
        for c in clients:
            c.close()
    print(f"server instructions per call (callgrind, all threads, {args.calls} calls from "
          f"{args.concurrency} callers after {args.warmup} warm-up calls)")
    print(f"  gateway QuerySubject  {gateway / 1e6:8.2f} M")
    print(f"  bare echo (same mTLS) {echo / 1e6:8.2f} M")
    print(f"  ratio {gateway / echo:.1f}x (goal <= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
