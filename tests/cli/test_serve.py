"""`credgate serve` as an operator runs it: signals, reloads, and stopping for sure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.config import REPO_ROOT
from gateway.policy.rollout import read_bundle
from tests.support import KEYS, POLICIES


def _line(proc: subprocess.Popen[str], wanted: str, timeout: float = 30.0) -> str:
    """The first stderr line holding ``wanted`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if wanted in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no line with {wanted!r} from credgate serve")


def test_a_broken_reload_keeps_serving_and_a_stop_is_never_lost(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "data"), "--keys", str(KEYS),
         "--policies", str(folder)],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        _line(proc, "serving on port")
        # One start block: address, data dir, store, keys, policy, two-person, workers.
        block = [_line(proc, label) for label in ("address", "data dir", "store", "keys",
                                                  "policies", "two-person", "workers",
                                                  "access log")]
        assert "mTLS required" in block[0] and str(tmp_path / "data") in block[1]
        assert "DEVELOPMENT keys" in block[3] and "version" in block[4]
        (folder / "policy.csv").write_bytes(b"p, court, \xff\xfe, read, x, allow,\n")
        proc.send_signal(signal.SIGHUP)
        _line(proc, "policy reload")  # refused or failed, but served on
        assert proc.poll() is None
        proc.send_signal(signal.SIGHUP)  # a reload and a stop arriving together
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert proc.stderr is not None
        assert "credgate stopped after" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
