"""Several gateway processes on one fresh PostgreSQL database (tests of one platform)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import FixedClock
from tests.records import test_store_contract as contract
from tests.support import KEYS, NOW

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def fresh_database() -> Iterator[str]:
    """The conninfo of a new, uniquely named database, dropped afterwards."""
    contract._require_postgres()
    name = f"credgate_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(contract.PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(contract.PG_CONNINFO)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(contract.PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


def url_of(conninfo: str) -> str:
    """A postgresql:// URL for a key=value conninfo (the gateway's config takes URLs)."""
    p = conninfo_to_dict(conninfo)
    return (f"postgresql://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:"
            f"{p.get('port', 5432)}/{p['dbname']}")


@dataclass
class GatewayProcess:
    """A gateway serving in a process of its own."""

    process: subprocess.Popen[str]
    port: int
    clients: list[CredgateClient] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, party: str) -> CredgateClient:
        """A client of this instance, signing on the instances' fixed clock."""
        c = CredgateClient(self.target, PartyCredentials.from_keys_dir(KEYS, party),
                           clock=FixedClock(NOW))
        self.clients.append(c)
        return c

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_processes(root: Path, database: str, count: int,
                    settings: dict[str, Any] | None = None, *,
                    one_folder: bool = False) -> list[GatewayProcess]:
    """Start `count` gateways on one database (each with a data folder of its own, or
    all in `root` with `one_folder`: embedded SQLite shared by several processes)."""
    started: list[subprocess.Popen[str]] = []
    for n in range(count):
        folder = root if one_folder else root / f"gw{n}"
        started.append(subprocess.Popen(
            [sys.executable, "-m", "tests.platform.gateway_process", str(folder),
             database, json.dumps(settings or {})],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    out: list[GatewayProcess] = []
    for process in started:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port "):
            for p in started:
                p.kill()
            raise RuntimeError(f"a gateway process did not start (exit {process.poll()})")
        out.append(GatewayProcess(process=process, port=int(line.split()[1])))
    return out


@contextmanager
def platform(root: Path, count: int, settings: dict[str, Any] | None = None,
             ) -> Iterator[tuple[str, Sequence[GatewayProcess]]]:
    """`count` gateway processes on one fresh database: (its conninfo, the processes)."""
    with ExitStack() as stack:
        conninfo = stack.enter_context(fresh_database())
        processes = start_processes(root, url_of(conninfo), count, settings)
        for p in processes:
            stack.callback(p.stop)
        yield conninfo, processes
