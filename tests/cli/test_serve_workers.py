"""`credgate serve --workers 2` and a second `serve` on the same data directory: one log.

The workers share a port (SO_REUSEPORT) and the one SQLite audit log; a plain second
`serve` on the same data directory (another port) joins the same log. After concurrent
calls at both, the log has every acknowledged entry once, no gap, and checkpoints that
are all consistent with each other (no false tamper alarm anywhere).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from gateway.api import pb, rpc
from gateway.audit.merkle import verify_consistency
from gateway.client import CredgateClient, PartyCredentials
from gateway.crypto.signatures import load_signing_key
from gateway.identify.request_signing import sign_request
from tests.audit.shared_support import make_backend, open_log
from tests.audit.test_shared_gateways import Instance, _free_port, _wait_serving
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, POLICIES, REPO
from tests.threads import run_together

ORIGIN = "credgate.example/audit-log"


def _serve(data_dir: Path, port: int, *extra: str) -> Instance:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(data_dir), "--keys", str(KEYS), "--policies", str(POLICIES),
         *extra],
        cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    inst = Instance(proc, port, data_dir)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            inst.lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return inst


def _wait_answering(target: str, timeout: float = 60.0) -> None:
    client = CredgateClient(target, PartyCredentials.from_keys_dir(KEYS, "court"))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.submit_records([debtor_record("W-1")], timeout=5)
                return
            except grpc.RpcError:
                assert time.monotonic() < deadline, "workers did not answer"
                time.sleep(0.2)
    finally:
        client.close()


def _signed_query() -> tuple[pb.QuerySubjectRequest, list[tuple[str, str]]]:
    request = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
    key = load_signing_key(KEYS / "parties" / "org_department.sign.key")
    return request, sign_request(key, "/credgate.v1.QueryService/QuerySubject",
                                 request.SerializeToString(), party="org_department",
                                 now=datetime.now(UTC))


def _send(target: str, request: pb.QuerySubjectRequest,
          headers: list[tuple[str, str]]) -> pb.QuerySubjectResponse:
    client = CredgateClient(target, PartyCredentials.from_keys_dir(KEYS, "org_department"))
    try:
        return rpc.QueryServiceStub(client.raw_channel).QuerySubject(
            request, metadata=headers, timeout=10)
    finally:
        client.close()


def test_workers_and_a_second_serve_share_one_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    workers = _serve(data, port, "--workers", "2")
    other: Instance | None = None
    other_lines: list[str] = []
    acked: dict[int, str] = {}
    lock = threading.Lock()
    try:
        _wait_answering(f"127.0.0.1:{port}")
        other = _serve(data, _free_port())
        other_lines = other.lines
        _wait_serving(other)
        stop = time.monotonic() + 2.0

        def caller(target: str) -> None:
            client = CredgateClient(target, PartyCredentials.from_keys_dir(KEYS,
                                                                           "org_department"))
            try:
                while time.monotonic() < stop:
                    seq = client.query_subject(ADULT, "cadre_selection", timeout=10).audit_seq
                    with lock:
                        assert seq not in acked
                        acked[seq] = target
            finally:
                client.close()

        targets = [f"127.0.0.1:{port}"] * 4 + [other.target] * 2
        run_together(caller, [(t,) for t in targets])
        # A request served by `other` is a replay at the workers, whose own memory
        # never saw it, even once `other` is gone without a word (kill -9).
        request, headers = _signed_query()
        assert _send(other.target, request, headers).records
        other.proc.kill()
        other.proc.wait(timeout=30)
        for _ in range(4):  # connections spread over both workers
            with pytest.raises(grpc.RpcError) as info:
                _send(f"127.0.0.1:{port}", request, headers)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "replay" in (info.value.details() or "")
        other = None
    finally:
        for inst in (workers, other):
            if inst is not None and inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in (workers, other):
            if inst is not None:
                assert inst.proc.wait(timeout=60) == 0, "".join(inst.lines[-20:])
    lines = "".join(workers.lines) + "".join(other_lines)
    assert "2 worker processes started" in lines
    assert "TAMPERING" not in lines.upper() and "tamper" not in lines.lower()
    assert len(acked) > 10 and len(set(acked.values())) == 2
    with open_log(make_backend("sqlite", data), tmp_path / "reader", origin=ORIGIN) as (
            log, evidence):
        entries = dict(log.read(start=1, limit=10_000))
        assert len(entries) == log.size()  # the open ran the full self-check
        for seq in acked:
            assert entries[seq].requester == "org_department"
        # Untraced (no exporter), every call still has its own trace id.
        trace_ids = {entries[seq].trace_id for seq in acked}
        assert len(trace_ids) == len(acked) and "0" * 32 not in trace_ids
        final = evidence.checkpointer.checkpoint_now()
        stored = evidence.store.between()
        assert len(stored) >= 2  # the first, and the final one (signed once, not per process)
        for cp in stored:
            verify_consistency(cp.size, final.size, cp.root, final.root,
                               evidence.tree.consistency_proof(cp.size, final.size))
