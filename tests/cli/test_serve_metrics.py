"""`credgate serve --workers 2` with metrics on: each worker serves its own endpoint
(metrics_port + i), and between them they count every call."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.client import CredgateClient, PartyCredentials
from tests.audit.test_shared_gateways import _free_port
from tests.cli.test_serve_workers import _wait_answering
from tests.support import ADULT, KEYS, POLICIES, REPO

pytestmark = pytest.mark.e2e  # serve processes


def _two_free_ports() -> int:
    """A port p such that p and p + 1 are both free now."""
    for _ in range(50):
        port = _free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def _calls(port: int, timeout: float = 30.0) -> float:
    """The QuerySubject calls a worker's endpoint has counted."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode("utf-8")
            break
        except OSError:
            assert time.monotonic() < deadline, f"no metrics on port {port}"
            time.sleep(0.2)
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "credgate_calls_total"
               and s.labels["method"] == "QueryService/QuerySubject")


def test_each_worker_serves_its_metrics_on_its_own_port(tmp_path: Path) -> None:
    port, metrics = _free_port(), _two_free_ports()
    env = {**os.environ, "CREDGATE_METRICS_PORT": str(metrics)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "data"), "--keys", str(KEYS), "--policies",
         str(POLICIES), "--workers", "2", "--no-access-log"],
        cwd=REPO, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        _wait_answering(f"127.0.0.1:{port}")
        made = 0
        for _ in range(12):  # a new connection each time: the kernel spreads them
            with CredgateClient(f"127.0.0.1:{port}",
                                PartyCredentials.from_keys_dir(KEYS, "org_department")) as c:
                c.query_subject(ADULT, "cadre_selection", timeout=30)
                made += 1
        counted = [_calls(metrics), _calls(metrics + 1)]
        assert sum(counted) == made
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
