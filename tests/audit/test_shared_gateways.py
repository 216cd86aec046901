"""Three gateway PROCESSES on one PostgreSQL database: one log, kill -9, database faults.

Each instance is a real ``credgate serve`` process with its own data directory and port,
all on a database created for this module (so it can be made to refuse connections
without disturbing anyone else), dropped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api import pb
from gateway.audit.export import export_range
from gateway.audit.merkle import verify_consistency
from gateway.audit.verifier import verify_export
from gateway.client import CredgateClient, PartyCredentials
from tests.audit.shared_support import (
    PG_URL,
    make_backend,
    open_log,
    pg_admin,
    require_postgres,
)
from tests.audit.tamper import LOG_PUB
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, POLICIES, REPO

ORIGIN = "credgate.example/audit-log"  # the gateway's default origin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Cluster:
    url: str
    dbname: str
    instances: list[Instance]
    tmp: Path
    acked: dict[int, str] = field(default_factory=dict)  # seq -> instance target
    clients: list[CredgateClient] = field(default_factory=list)

    def client(self, k: int, party: str) -> CredgateClient:
        c = CredgateClient(self.instances[k].target, PartyCredentials.from_keys_dir(KEYS, party))
        self.clients.append(c)
        return c

    def health(self, k: int) -> int:
        c = self.client(k, "regulator")
        stub = health_pb2_grpc.HealthStub(c.raw_channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)


def _start(url: str, data_dir: Path, port: int) -> Instance:
    env = dict(os.environ, CREDGATE_AUDIT_CHECKPOINT_INTERVAL_S="1",
               CREDGATE_AUDIT_BUSY_TIMEOUT_MS="2000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(data_dir), "--keys", str(KEYS), "--policies", str(POLICIES),
         "--database", url],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    inst = Instance(proc, port, data_dir)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            inst.lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return inst


def _wait_serving(inst: Instance, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("serving on port" in line for line in inst.lines):
            return
        if inst.proc.poll() is not None:
            raise AssertionError("gateway exited: " + "".join(inst.lines[-20:]))
        time.sleep(0.05)
    raise AssertionError("gateway did not start: " + "".join(inst.lines[-20:]))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_postgres()
    tmp = tmp_path_factory.mktemp("cluster")
    dbname = f"credgate_t_{uuid.uuid4().hex[:10]}"
    pg_admin(f'CREATE DATABASE "{dbname}"')
    url = PG_URL.replace("/test?", f"/{dbname}?")
    instances = [_start(url, tmp / f"instance-{k}", _free_port()) for k in range(3)]
    cl = Cluster(url, dbname, instances, tmp)
    try:
        for inst in instances:
            _wait_serving(inst)
        yield cl
    finally:
        for c in cl.clients:
            c.close()
        for inst in instances:
            if inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in instances:
            try:
                inst.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
        pg_admin(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _load(cl: Cluster, targets: list[int], seconds: float, errors: list[str],
          kill: tuple[int, int] | None = None) -> None:
    """Query at the given instances from two threads each, remembering acknowledged seqs.

    With `kill` (instance, calls), that instance is killed under load once it has
    acknowledged that many calls (so that it surely served some, however slow the
    machine), at the latest half a second before the end.
    """
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    served = threading.Condition(lock)

    def caller(k: int) -> None:
        client = cl.client(k, "org_department")
        while time.monotonic() < stop:
            try:
                seq = client.query_subject(ADULT, "cadre_selection", timeout=8).audit_seq
            except grpc.RpcError as exc:
                with lock:
                    errors.append(f"{k}:{exc.code().name}")
                if cl.instances[k].proc.poll() is not None:
                    return
                time.sleep(0.05)
                continue
            with lock:
                assert seq not in cl.acked, "one seq acknowledged twice"
                cl.acked[seq] = cl.instances[k].target
                served.notify_all()

    threads = [threading.Thread(target=caller, args=(k,)) for k in targets for _ in range(2)]
    for t in threads:
        t.start()
    if kill is not None:
        victim, calls = kill
        target = cl.instances[victim].target
        with served:
            served.wait_for(lambda: sum(t == target for t in cl.acked.values()) >= calls,
                            timeout=seconds - 0.5)
        cl.instances[victim].proc.send_signal(signal.SIGKILL)
    for t in threads:
        t.join()


def _check_log(cl: Cluster, tmp: Path) -> int:
    """Every acknowledged entry is in the one log, which verifies; returns its size."""
    backend = make_backend("postgres", "credgate", url=cl.url)
    with open_log(backend, tmp, origin=ORIGIN) as (log, evidence):
        size = log.size()  # open_log ran the full self-check: no gap, roots match
        entries = dict(log.read(start=1, limit=10_000))
        assert len(entries) == size
        for seq in cl.acked:
            assert entries[seq].action == "query.subject"
            assert entries[seq].requester == "org_department"
        final = evidence.checkpointer.checkpoint_now()
        stored = evidence.store.between()
        assert len(stored) >= 2
        for cp in stored:  # signed by whichever instance held the signer lock
            verify_consistency(cp.size, final.size, cp.root, final.root,
                               evidence.tree.consistency_proof(cp.size, final.size))
        out = tmp / "export.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, out)
        assert verify_export(out, final.note, LOG_PUB).ok
        return size


def test_instances_share_one_log_and_survive_a_kill(cluster: Cluster, tmp_path: Path) -> None:
    cluster.client(0, "court").submit_records([debtor_record("S-1")])
    errors: list[str] = []
    _load(cluster, [0, 1, 2], 4.0, errors, kill=(2, 3))
    assert cluster.instances[2].proc.wait(timeout=5) == -signal.SIGKILL
    assert len(cluster.acked) > 20
    assert {t for t in cluster.acked.values()} == {i.target for i in cluster.instances}
    size = _check_log(cluster, tmp_path / "reader")
    # Each surviving instance's search shows every instance's entries.
    for k in (0, 1):
        seqs: set[int] = set()
        token = ""
        while True:  # a quiet machine acknowledges more than one page of entries
            reply = cluster.client(k, "regulator").audit.ListAuditEntries(
                pb.ListAuditEntriesRequest(requester="org_department", page_size=1000,
                                           page_token=token), timeout=30)
            seqs |= {e.seq for e in reply.entries}
            token = reply.next_page_token
            if not token:
                break
        assert set(cluster.acked) <= seqs
        assert len(seqs) <= size


def test_database_faults_fail_closed_and_recover(cluster: Cluster, tmp_path: Path) -> None:
    live = [0, 1]
    admin = f'"{cluster.dbname}"'
    # 1. Every gateway connection is terminated: calls may fail once, then reconnect.
    pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = %s AND pid <> pg_backend_pid()", (cluster.dbname,))
    errors: list[str] = []
    _load(cluster, live, 2.0, errors)
    before = len(cluster.acked)
    assert before > 0
    # 2. The database refuses connections for 3 s.
    pg_admin(f"ALTER DATABASE {admin} ALLOW_CONNECTIONS false")
    pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = %s AND pid <> pg_backend_pid()", (cluster.dbname,))
    try:
        down_errors: list[str] = []
        acked_before = set(cluster.acked)
        _load(cluster, live, 1.5, down_errors)
        assert set(cluster.acked) == acked_before  # nothing released without its entry
        assert down_errors and all(e.endswith("UNAVAILABLE") for e in down_errors)
        deadline = time.monotonic() + 8  # probes run every second, a store probe waits 3 s
        while cluster.health(0) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "".join(cluster.instances[0].lines[-30:])
            time.sleep(0.2)
    finally:
        pg_admin(f"ALTER DATABASE {admin} ALLOW_CONNECTIONS true")
    # 3. Recovery is automatic.
    deadline = time.monotonic() + 15
    while cluster.health(0) != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health did not come back"
        time.sleep(0.2)
    errors.clear()
    _load(cluster, live, 1.0, errors)
    assert len(cluster.acked) > before
    _check_log(cluster, tmp_path / "reader")
