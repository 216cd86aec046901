"""Faults for the outcome tests: a store that refuses one kind of write, a held audit
file, the sweeper after the grace period, and the log's decisions per action."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

from gateway.clock import FixedClock
from gateway.consent.uses import GRACE, SweepResult
from gateway.records.sqlite_store import SqliteStore
from tests.live_gateway import LiveGateway


@contextmanager
def store_fault(live: LiveGateway, table: str, event: str, *,
                conninfo: str = "") -> Iterator[None]:
    """The gateway's store refuses `event` (INSERT, UPDATE, DELETE) on `table` meanwhile:
    a trigger in its SQLite file, or in its PostgreSQL database (`conninfo`)."""
    if conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE OR REPLACE FUNCTION credgate.refuse() RETURNS trigger "
                         "AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ "
                         "LANGUAGE plpgsql")
            conn.execute(f"CREATE TRIGGER injected_fault BEFORE {event} ON "
                         f"credgate.{table} FOR EACH ROW EXECUTE FUNCTION credgate.refuse()")
    else:
        with _sqlite(live) as conn:
            conn.execute(f"CREATE TRIGGER injected_fault BEFORE {event} ON {table} "
                         "BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
    try:
        yield
    finally:
        if conninfo:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"DROP TRIGGER injected_fault ON credgate.{table}")
        else:
            with _sqlite(live) as conn:
                conn.execute("DROP TRIGGER injected_fault")


def _sqlite(live: LiveGateway) -> sqlite3.Connection:
    store = live.gw.store
    assert isinstance(store, SqliteStore)
    return sqlite3.connect(store.path, isolation_level=None, timeout=10)


@contextmanager
def audit_held(live: LiveGateway) -> Iterator[None]:
    """Hold the audit file's lock: the log cannot take an entry meanwhile."""
    with sqlite3.connect(live.gw.config.audit_db, isolation_level=None) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")


def sweep_later(live: LiveGateway) -> SweepResult:
    """Run the gateway's sweeper once the calls' grace period is over."""
    clock = live.gw.clock
    assert isinstance(clock, FixedClock)
    clock.advance(GRACE + timedelta(seconds=1))
    assert live.gw.sweeper is not None
    return live.gw.sweeper.sweep()


def decisions(live: LiveGateway, action: str) -> list[str]:
    """The decisions of the log's entries of one action, oldest first."""
    return [e.decision for _, e in live.gw.audit.read(start=1, limit=10_000)
            if e.action == action]
