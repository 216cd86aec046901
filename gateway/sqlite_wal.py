"""Switching a SQLite file to WAL mode when several processes open it at once.

Every SQLite file of the gateway runs in WAL mode. The switch happens once, on the first
open of a new file, and it needs the file to itself: when two instances (or the worker
processes of one `serve --workers N`) start together on a fresh data directory, SQLite
answers "database is locked" to the loser at once, without waiting out the busy timeout.
That stopped a worker at start (CI, issue 11). The switch is therefore retried until the
busy timeout, as any other lock wait is.
"""

from __future__ import annotations

import sqlite3
import time

__all__ = ["use_wal"]

_FIRST_PAUSE_S = 0.005
_LONGEST_PAUSE_S = 0.05


def use_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Put the connection's file in WAL mode, waiting up to `timeout_s` for other openers.

    Raises sqlite3.OperationalError when the file stays locked or refuses WAL (a file
    system without shared memory, for example).
    """
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if not _is_lock_wait(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
            continue
        if mode != "wal":
            raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
        return


def _is_lock_wait(exc: sqlite3.OperationalError) -> bool:
    """True for the errors that mean another connection holds the file for a moment."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text
