"""Re-encryption of the lifecycle's sealed rows: objections, repairs, the blacklist.

A mixin of :class:`gateway.records.sql_store.SqlStore` for ``credgate keys reencrypt``
(``gateway.rotation.reencrypt``). Each table is read in pages by its key, and written back with
a compare-and-set per row over every column that holds a ciphertext or a blind index:
a row that another writer (an answer, a decision, a lift, another re-encryption)
changed meanwhile is left alone and reported, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.records.lifecycle_rows import (
    BLACKLIST_COLUMNS,
    OBJECTION_COLUMNS,
    REPAIR_COLUMNS,
    BlacklistRow,
    ObjectionRow,
    RepairRow,
    blacklist_from_row,
    objection_from_row,
    repair_from_row,
)
from gateway.records.sql_dialect import Database

#: A sealed row of one of the tables below.
SealedRow = ObjectionRow | RepairRow | BlacklistRow


@dataclass(frozen=True)
class _Sealed:
    key: str
    columns: str
    from_row: Callable[[Sequence[Any]], SealedRow]
    #: The columns that hold ciphertexts or blind indexes, and their values in a row.
    sealed: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]


SEALED_TABLES: dict[str, _Sealed] = {
    "objections": _Sealed(
        "objection_id", OBJECTION_COLUMNS, objection_from_row,
        ("subject_index", "reason_ct", "answer_ct"),
        lambda r: (r.subject_index, r.reason_ciphertext, r.answer_ciphertext)),
    "repairs": _Sealed(
        "repair_id", REPAIR_COLUMNS, repair_from_row,
        ("subject_index", "statement_ct", "decision_ct"),
        lambda r: (r.subject_index, r.statement_ciphertext, r.decision_ciphertext)),
    "blacklist": _Sealed(
        "entry_id", BLACKLIST_COLUMNS, blacklist_from_row, ("reason", "lift_reason"),
        lambda r: (r.reason, r.lift_reason)),
}


def sealed_key(table: str, row: SealedRow) -> str:
    """A sealed row's key as text (the blacklist's entry id is a number)."""
    return str(getattr(row, SEALED_TABLES[table].key))


class SqlRekey:
    """Re-encryption methods of the RecordStore contract (mixin of SqlStore)."""

    _db: Database

    def sealed_page(self, table: str, *, after: str = "", limit: int = 500) -> list[SealedRow]:
        """Rows of a sealed table by key after `after` ("" for the first page)."""
        spec = SEALED_TABLES[table]
        start: object = int(after or 0) if spec.key == "entry_id" else after
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {spec.columns} FROM {table} WHERE {spec.key} > ? "
            f"ORDER BY {spec.key} LIMIT ?", (start, limit)))
        return [spec.from_row(r) for r in rows]

    def get_sealed(self, table: str, key: str) -> SealedRow | None:
        """The row of a sealed table with this key, or None."""
        spec = SEALED_TABLES[table]
        value: object = int(key) if spec.key == "entry_id" else key
        row = self._db.read(lambda sql: sql.one(
            f"SELECT {spec.columns} FROM {table} WHERE {spec.key} = ?", (value,)))
        return spec.from_row(row) if row else None

    def rekey_sealed(self, table: str, changes: Sequence[tuple[SealedRow, SealedRow]]
                     ) -> list[bool]:
        """Write (old, new) rows' sealed columns, each only where they still hold old's
        (a compare-and-set each, one transaction)."""
        if not changes:
            return []
        spec = SEALED_TABLES[table]
        assignments = ", ".join(f"{c} = ?" for c in spec.sealed)
        matches = " AND ".join(f"{c} = ?" for c in spec.sealed)
        params = [(*spec.values(new), getattr(old, spec.key), *spec.values(old))
                  for old, new in changes]
        done = self._db.write(lambda sql: sql.each_returning(
            f"UPDATE {table} SET {assignments} WHERE {spec.key} = ? AND {matches} "
            f"RETURNING {spec.key}", params))
        return [row is not None for row in done]
