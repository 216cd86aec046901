"""Shared by the shared-log tests: backends on SQLite and on PostgreSQL, opened logs.

The PostgreSQL cases each get a fresh schema, dropped afterwards; they skip when the
server cannot be reached, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gateway.audit.backend import Backend, PostgresBackend, SqliteBackend
from gateway.audit.seen import SeenCheckpoint
from gateway.audit.shared import SharedAuditLog
from gateway.audit.shared_evidence import SharedEvidence
from gateway.audit.tree import TamperDetected
from gateway.clock import FixedClock
from tests.audit.tamper import LOG_KEY
from tests.support import NOW

#: The same server as the record store's tests, as a URL (what a gateway config takes).
PG_URL = os.environ.get("CREDGATE_TEST_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test?connect_timeout=3")
ORIGIN = "credgate.test/shared-log"


@cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); probed once per session."""
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def require_postgres() -> None:
    """Skip (fail in CI) when PostgreSQL is not reachable."""
    reason = postgres_unreachable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL not reachable: {reason} (CI=true: these tests must run)",
                    pytrace=False)
    pytest.skip(f"PostgreSQL not reachable: {reason}")


def pg_admin(sql_text: str | sql.Composed, params: tuple[object, ...] = ()) -> list[tuple]:
    """Run one statement as the superuser on the test database."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        cur = conn.execute(sql_text, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A unique schema name, dropped (CASCADE) afterwards."""
    require_postgres()
    schema = f"credgate_tlog_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def make_backend(kind: str, where: Path | str, *, url: str = PG_URL) -> Backend:
    """A backend of this kind: a file in a directory, or a schema (of the database at url)."""
    if kind == "sqlite":
        return SqliteBackend(Path(where) / "audit.db", lock_timeout_ms=2000)
    return PostgresBackend(url, schema=str(where), lock_timeout_ms=2000)


@contextmanager
def open_log(backend: Backend, data_dir: Path, *, alerts: list[TamperDetected] | None = None,
             origin: str = ORIGIN) -> Iterator[tuple[SharedAuditLog, SharedEvidence]]:
    """One instance's log and evidence (its own data directory for the seen checkpoint)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    backend.create_schema()
    seen = SeenCheckpoint(data_dir / "audit-seen-checkpoint", LOG_KEY.verify_key, origin)
    log = SharedAuditLog(backend, signing_key=LOG_KEY, origin=origin, seen=seen,
                         alert=None if alerts is None else alerts.append)
    try:
        evidence = SharedEvidence.open(log, LOG_KEY, clock=FixedClock(NOW), interval=None)
        try:
            yield log, evidence
        finally:
            evidence.checkpointer.stop(final=False)
    finally:
        log.close()
