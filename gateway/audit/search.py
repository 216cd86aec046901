"""Searching the audit log for regulators: filters, time ranges, stable pagination.

Reads go through their own read-only connection; nothing here can change the log.
Filters run inside SQLite (JSON1 over the canonical bytes), and every page scans a
bounded number of rows, so a search over a long log returns partial pages with a
continuation token instead of stalling the gateway.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.audit.backend import Backend
from gateway.audit.entry import AuditEntry
from gateway.errors import AuditUnavailable, InvalidArgument

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Rows examined per page at most; a sparse filter returns early with a token.
MAX_SCAN = 200_000


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a regulator asks for; empty fields do not filter."""

    time_from: str = ""
    time_to: str = ""
    requester: str = ""
    purpose: str = ""
    decision: str = ""
    action: str = ""
    subject_indexes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of results and the token for the next (empty at the end)."""

    entries: tuple[tuple[int, AuditEntry], ...]
    next_token: str


def encode_token(seq: int) -> str:
    """An opaque page token for "continue after seq"."""
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode("ascii")


# SQLite integers are 64-bit and a page scans past the token's seq: keep both in range.
_MAX_TOKEN_SEQ = 2**62


def decode_token(token: str) -> int:
    """The seq a page token continues after; raises InvalidArgument if it is not ours."""
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode("ascii")).decode().partition(":")
        seq = int(value)
    except (ValueError, UnicodeError):
        raise InvalidArgument("page_token is not valid") from None
    if kind != "after" or not 0 <= seq <= _MAX_TOKEN_SEQ:
        raise InvalidArgument("page_token is not valid")
    return seq


_COLUMNS = {
    "requester": "$.requester",
    "purpose": "$.purpose",
    "decision": "$.decision",
    "action": "$.action",
}


class AuditSearch:
    """Filtered, paginated reads of one audit log file."""

    def __init__(self, source: Path | Backend) -> None:
        # A Path is a per-instance audit file of the old layout (table audit_log); a
        # Backend is the shared log (table tlog_entries, SQLite or PostgreSQL).
        self._backend: Backend | None = None if isinstance(source, Path) else source
        self._path = source if isinstance(source, Path) else None
        self._local = threading.local()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()
        if self._backend is None:
            self._table, self._mark = "audit_log", "?"
            self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        else:
            self._table = f"{self._backend.prefix}tlog_entries"
            self._mark = self._backend.mark
            self._errors = self._backend.errors

    def _field(self, name: str) -> str:
        """The SQL that extracts one top-level member of the canonical JSON entry."""
        if self._mark == "%s":
            return f"(convert_from(entry, 'UTF8')::jsonb ->> '{name}')"
        return f"json_extract(CAST(entry AS TEXT), '$.{name}')"

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._backend is not None:
                conn = self._backend.connect(writer=False)
            else:
                assert self._path is not None
                try:
                    conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro",
                                           uri=True, check_same_thread=False)
                except sqlite3.Error as exc:
                    raise AuditUnavailable("audit log cannot be read",
                                           reason="audit_read_failed",
                                           detail=str(exc)) from None
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _rows(self, sql: str, params: Sequence[object]) -> list[Any]:
        try:
            return list(self._conn().execute(sql, tuple(params)).fetchall())
        except self._errors as exc:
            self._forget()
            raise AuditUnavailable("audit log cannot be read", reason="audit_read_failed",
                                   detail=type(exc).__name__) from None

    def _forget(self) -> None:
        """Drop this thread's connection (it may be broken); the next call reconnects."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._connections_lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def search(self, flt: AuditFilter, *, page_token: str = "",
               page_size: int = DEFAULT_PAGE) -> AuditPage:
        """Entries matching every given filter, in seq order, one page at a time."""
        if not 0 < page_size <= MAX_PAGE:
            page_size = DEFAULT_PAGE if page_size == 0 else MAX_PAGE
        if flt.decision and flt.decision not in ("allow", "deny"):
            raise InvalidArgument("decision must be 'allow' or 'deny'")
        after = decode_token(page_token)
        q = self._mark
        clauses: list[str] = []
        params: list[object] = []
        for name, path in _COLUMNS.items():
            value = getattr(flt, name)
            if value:
                clauses.append(f"{self._field(path[2:])} = {q}")
                params.append(value)
        if flt.time_from:
            clauses.append(f"{self._field('time')} >= {q}")
            params.append(flt.time_from)
        if flt.time_to:
            clauses.append(f"{self._field('time')} <= {q}")
            params.append(flt.time_to)
        if flt.subject_indexes:
            marks = ",".join([q] * len(flt.subject_indexes))
            clauses.append(f"{self._field('subject_index')} IN ({marks})")
            params.extend(flt.subject_indexes)
        where = " AND ".join(clauses) or "1 = 1"
        # The scan window keeps one request's cost bounded whatever the filter.
        sql = (f"SELECT seq, entry FROM {self._table} WHERE seq > {q} AND seq <= {q} "
               f"AND {where} ORDER BY seq LIMIT {q}")
        rows = self._rows(sql, (after, after + MAX_SCAN, *params, page_size + 1))
        last = self._rows(f"SELECT coalesce(max(seq), 0) FROM {self._table}", ())[0][0]
        entries = tuple((seq, AuditEntry.from_canonical(bytes(data)))
                        for seq, data in rows[:page_size])
        if len(rows) > page_size:
            token = encode_token(entries[-1][0])
        elif after + MAX_SCAN < last:
            token = encode_token(after + MAX_SCAN)  # nothing more in this window
        else:
            token = ""
        return AuditPage(entries=entries, next_token=token)

    def entry(self, seq: int) -> tuple[AuditEntry, bytes]:
        """One entry and its canonical bytes; raises InvalidArgument if absent."""
        found = self._rows(f"SELECT entry FROM {self._table} WHERE seq = {self._mark}", (seq,))
        row = found[0] if found else None
        if row is None:
            raise InvalidArgument("no audit entry with that seq")
        data = bytes(row[0])
        return AuditEntry.from_canonical(data), data

    def for_subject(self, subject_indexes: Sequence[str], *,
                    actions: Sequence[str]) -> list[tuple[int, AuditEntry]]:
        """Every entry about a subject with one of the actions (for the access report)."""
        out: list[tuple[int, AuditEntry]] = []
        for action in actions:
            token = ""
            while True:
                page = self.search(AuditFilter(action=action,
                                               subject_indexes=tuple(subject_indexes)),
                                   page_token=token, page_size=MAX_PAGE)
                out.extend(page.entries)
                token = page.next_token
                if not token:
                    break
        out.sort(key=lambda item: item[0])
        return out

    def close(self) -> None:
        """Close every connection this search opened."""
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):  # another thread's, maybe mid-call
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
