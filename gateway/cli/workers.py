"""`credgate serve --workers N`: N gateway processes on one port and one embedded log.

Each worker is a full gateway process (``credgate serve --worker``) listening with
``SO_REUSEPORT``, so the kernel spreads connections over them. They share the data
directory: the audit log is one SQLite file whose single write lock (``BEGIN
IMMEDIATE``) serialises their group commits, so there is one log, one tree and one
series of checkpoints (see gateway.audit.shared). The parent only starts the workers,
forwards SIGTERM/SIGINT/SIGHUP, and starts a worker again if one dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from gateway.cli.common import EXIT_BROKEN, EXIT_OK

#: The environment variable that tells a worker its number (0..N-1): worker i serves its
#: metrics on metrics_port + i.
WORKER_INDEX_ENV = "CREDGATE_WORKER_INDEX"
#: A worker that dies sooner than this after its start is not restarted (a broken set-up).
_MIN_UPTIME_S = 5.0


def supervise(worker_argv: Sequence[str], count: int) -> int:
    """Run ``count`` workers until SIGINT/SIGTERM; return the exit code."""
    command = [sys.executable, "-m", "gateway", "serve", *worker_argv, "--worker"]
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []
    started: list[float] = []

    def forward(signum: int, _: object) -> None:
        if signum in (signal.SIGINT, signal.SIGTERM):
            stop.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    def start(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env={**os.environ, WORKER_INDEX_ENV: str(index)})

    for index in range(count):
        procs.append(start(index))
        started.append(time.monotonic())
    print(f"credgate: {count} worker processes started (pids "
          f"{', '.join(str(p.pid) for p in procs)}); they share the port and the audit log",
          file=sys.stderr)
    code = EXIT_OK
    while not stop.is_set():
        stop.wait(0.5)
        for i, p in enumerate(procs):
            if stop.is_set() or p.poll() is None:
                continue
            if time.monotonic() - started[i] < _MIN_UPTIME_S:
                print(f"credgate: worker {p.pid} exited with {p.returncode} at start; "
                      "stopping the others", file=sys.stderr)
                stop.set()
                code = EXIT_BROKEN
                break
            print(f"credgate: worker {p.pid} exited with {p.returncode}; starting another",
                  file=sys.stderr)
            procs[i] = start(i)
            started[i] = time.monotonic()
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return code
