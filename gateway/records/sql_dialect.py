"""What the one SQL record store needs from a back end: the dialect adapter.

The store (:mod:`gateway.records.sql_store`) writes every query once, with ``?``
placeholders and unqualified table names. A back end supplies:

- :class:`Sql`, a connection inside a read or a transaction that runs those queries
  (PostgreSQL turns ``?`` into ``%s`` and finds the tables through ``search_path``);
- :class:`Database`: reads, write transactions (SQLite: ``BEGIN IMMEDIATE`` under the
  process's write lock; PostgreSQL: a pooled connection in one transaction), the row
  lock suffix, the schema migrations and, on SQLite, a cache of records per subject.

Both dialects accept the rest as written: ``INSERT ... ON CONFLICT ... DO NOTHING``,
``RETURNING`` (SQLite 3.35 and later), partial unique indexes as conflict targets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from gateway.records.model import StoredRecord

T = TypeVar("T")
Row = Sequence[Any]


class Sql(Protocol):
    """A connection of the store, inside one read or one write transaction."""

    def one(self, text: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query (every row is fetched), or None."""
        ...

    def all(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""
        ...

    def run(self, text: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def each_returning(self, text: str, rows: Sequence[Sequence[Any]]) -> list[Row | None]:
        """Run one statement with RETURNING per parameter row (batched where the
        driver can); the first returned row of each, or None."""
        ...

    def column_names(self, table: str) -> set[str]:
        """The columns of a table of the store."""
        ...


class SubjectCache(Protocol):
    """Stored (encrypted) records per blind index, exact under every writer."""

    def records(self, subject_indexes: Sequence[str],
                load: Callable[[Sequence[str]], dict[str, tuple[StoredRecord, ...]]],
                ) -> dict[str, tuple[StoredRecord, ...]]:
        """The records of each index: all from the cache, or all from one `load`."""
        ...


class Database(Protocol):
    """A back end of the store: connections, transactions and dialect differences."""

    #: Appended to a SELECT that must lock its rows until the transaction ends
    #: (" FOR UPDATE"); empty where the write transaction already excludes writers.
    for_update: str
    #: Records per subject, where the back end keeps a cache (SQLite), else None.
    cache: SubjectCache | None

    def read(self, work: Callable[[Sql], T]) -> T:
        """Run reads outside a transaction; raises StoreUnavailable."""
        ...

    def write(self, work: Callable[[Sql], T], *, durable: bool = True,
              records: bool = True) -> T:
        """Run work in one transaction, committed when it returns and rolled back when
        it raises; raises StoreUnavailable when the database fails.

        With `durable` False the commit may return before it reaches the disk (it is
        still seen at once by every other connection): for rows that can be rebuilt
        after a crash, such as the replay memory, which is re-seeded from the audit log.
        With `records` False the work promises to change no record (request state), so
        a back end's record cache may stay as it is.
        """
        ...

    def notify(self, sql: Sql, channel: str) -> None:
        """Announce a change on `channel` when the transaction of `sql` commits
        (PostgreSQL NOTIFY; nothing on SQLite, where the others poll)."""
        ...

    def wait_for_notice(self, channel: str, timeout: float, stop: threading.Event) -> None:
        """Return at a notice on `channel`, when `stop` is set, or after `timeout`."""
        ...

    def close(self) -> None:
        """Release connections; later calls raise StoreUnavailable."""
        ...


def marks(values: Sequence[object]) -> str:
    """The placeholder list of an IN clause for `values`: "(?,?,?)"."""
    return "(" + ",".join("?" * len(values)) + ")"
