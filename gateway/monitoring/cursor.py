"""Where the monitor keeps its place: one lease, its position and state, and alert claims.

Tables (SQLite ``monitor.db`` in the data directory, shared by the worker processes of
one machine; on PostgreSQL beside the audit log in the instances' schema):

* ``monitor_cursor``: one row. ``holder`` and ``lease_until`` say which process
  evaluates the log now (one at a time across every instance); ``position`` and
  ``state`` are how far it has read and what its rules remember. A save is fenced by
  the lease: a process that lost it cannot overwrite its successor's position.
* ``monitor_alerts``: one row per alert id, inserted before its audit entry is
  appended (``INSERT ... ON CONFLICT DO NOTHING``); only the process whose insert took
  the row appends the entry, so an alert id reaches the log once. ``seq`` is the seq of
  that entry once it is durable.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from gateway.audit.backend import Backend
from gateway.errors import AuditUnavailable

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {p}monitor_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "holder TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL, "
    "position BIGINT NOT NULL, state TEXT NOT NULL)",
    "INSERT INTO {p}monitor_cursor (id, holder, lease_until, position, state) "
    "VALUES (1, '', 0, 0, '') ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS {p}monitor_alerts (alert_id TEXT PRIMARY KEY, "
    "claimed_by TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL, seq BIGINT)",
)


TABLES = ("monitor_cursor", "monitor_alerts")


class MonitorStore:
    """The monitor's lease, position, state and alert claims in one database."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._p, self._m = backend.prefix, backend.mark
        self._conn: Any = None
        self._lock = threading.RLock()
        self._create()

    def _create(self) -> None:
        """The tables, created by one process at a time (instances start together).

        On PostgreSQL, tables that exist already are left alone (no DDL): a gateway whose
        role may not change the schema starts once `credgate db migrate` made them.
        """
        postgres = self._m == "%s"
        with self._lock:
            if postgres and self._run(
                    "SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest(?::text[]) AS t",
                    ([f"{self._p}{t}" for t in TABLES],)).fetchone()[0]:
                self._run(_SCHEMA[1], ())  # the cursor row (a row, not DDL)
                return
            self._run("BEGIN" if postgres else "BEGIN IMMEDIATE", ())
            try:
                if postgres:
                    self._run("SELECT pg_advisory_xact_lock(7315506264)", ())
                for statement in _SCHEMA:
                    self._run(statement, ())
                self._run("COMMIT", ())
            except AuditUnavailable:
                self.close()  # the connection is dropped, and its transaction with it
                raise

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._backend.connect(writer=True)
        return self._conn

    def _unavailable(self, exc: BaseException) -> AuditUnavailable:
        self.close()
        return AuditUnavailable("the monitor's position cannot be read or written",
                                reason="monitor_unavailable", detail=type(exc).__name__)

    def _run(self, sql: str, params: tuple[Any, ...]) -> _Result:
        with self._lock:  # one connection, used by the runner and the servicers
            try:
                cur = self._connection().execute(
                    sql.format(p=self._p).replace("?", self._m), params)
                rows = cur.fetchall() if cur.description else []
                return _Result(cur.rowcount, rows)
            except self._backend.errors as exc:
                raise self._unavailable(exc) from None

    def grant_to(self, role: str) -> None:
        """Let a database role read and write the monitor's rows (PostgreSQL; no DDL)."""
        who = '"' + role.replace('"', '""') + '"'
        for table in TABLES:
            self._run(f"GRANT SELECT, INSERT, UPDATE ON {{p}}{table} TO {who}", ())

    def take_lease(self, holder: str, *, now: float, seconds: float) -> bool:
        """Take or renew the lease unless another holder's is still running."""
        cur = self._run("UPDATE {p}monitor_cursor SET holder = ?, lease_until = ? "
                        "WHERE id = 1 AND (holder = ? OR lease_until < ?)",
                        (holder, now + seconds, holder, now))
        return bool(cur.rowcount == 1)

    def release(self, holder: str) -> None:
        """Give the lease up at once (a clean stop)."""
        self._run("UPDATE {p}monitor_cursor SET lease_until = 0 WHERE id = 1 AND holder = ?",
                  (holder,))

    def load(self) -> tuple[int, str]:
        """The saved (position, state JSON)."""
        row = self._run("SELECT position, state FROM {p}monitor_cursor WHERE id = 1",
                        ()).fetchone()
        return int(row[0]), str(row[1])

    def save(self, holder: str, *, position: int, state: str, now: float,
             seconds: float) -> bool:
        """Save position and state and renew the lease; False if the lease was lost."""
        cur = self._run("UPDATE {p}monitor_cursor SET position = ?, state = ?, "
                        "lease_until = ? WHERE id = 1 AND holder = ?",
                        (position, state, now + seconds, holder))
        return bool(cur.rowcount == 1)

    def claim(self, alert_id: str, holder: str, *, now: float) -> bool:
        """Claim an alert id; True only for the one caller whose insert took it."""
        cur = self._run("INSERT INTO {p}monitor_alerts (alert_id, claimed_by, claimed_at) "
                        "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (alert_id, holder, now))
        return bool(cur.rowcount == 1)

    def take_over(self, alert_id: str, holder: str, *, now: float, older_than: float) -> bool:
        """Take a claim whose holder stopped before logging it (claimed before older_than)."""
        cur = self._run("UPDATE {p}monitor_alerts SET claimed_by = ?, claimed_at = ? "
                        "WHERE alert_id = ? AND seq IS NULL AND claimed_at < ?",
                        (holder, now, alert_id, older_than))
        return bool(cur.rowcount == 1)

    def logged(self, alert_id: str, seq: int) -> None:
        """Record the seq of the alert's durable audit entry."""
        self._run("UPDATE {p}monitor_alerts SET seq = ? WHERE alert_id = ?", (seq, alert_id))

    def alert(self, alert_id: str) -> tuple[bool, int | None]:
        """(claimed, seq of its entry or None)."""
        row = self._run("SELECT seq FROM {p}monitor_alerts WHERE alert_id = ?",
                        (alert_id,)).fetchone()
        if row is None:
            return False, None
        return True, None if row[0] is None else int(row[0])

    def close(self) -> None:
        """Close the connection (reopened on the next use)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                conn.close()


@dataclass(frozen=True)
class _Result:
    rowcount: int
    rows: list[Any]

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None
