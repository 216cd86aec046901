"""The credit agency blacklist in the one SQL store (gateway.records.blacklist).

A mixin of :class:`gateway.records.sql_store.SqlStore`. A partial unique index keeps
one listing in force per party, so two officers listing one agency at once cannot both
succeed.
"""

from __future__ import annotations

from gateway.errors import FailedPrecondition
from gateway.records.lifecycle_rows import BLACKLIST_COLUMNS, BlacklistRow, blacklist_from_row
from gateway.records.sql_dialect import Database, Sql


class SqlBlacklist:
    """Blacklist methods of the RecordStore contract (mixin of SqlStore)."""

    _db: Database

    def blacklist_party(self, row: BlacklistRow) -> BlacklistRow:
        """List a party; raises FailedPrecondition when it is listed already."""
        return self._db.write(lambda sql: self._blacklist(sql, row))

    @staticmethod
    def _blacklist(sql: Sql, row: BlacklistRow) -> BlacklistRow:
        found = sql.one(
            "INSERT INTO blacklist (party, listed_at, listed_by, reason) VALUES (?,?,?,?) "
            "ON CONFLICT (party) WHERE lifted_at IS NULL DO NOTHING "
            f"RETURNING {BLACKLIST_COLUMNS}",
            (row.party, row.listed_at, row.listed_by, row.reason))
        if found is None:
            raise FailedPrecondition("the party is blacklisted already",
                                     reason="already_blacklisted")
        return blacklist_from_row(found)

    def lift_blacklist(self, party: str, *, at: str, by: str, reason: str) -> BlacklistRow:
        """Lift a party's listing; raises FailedPrecondition when it is not listed."""
        return self._db.write(lambda sql: self._lift(sql, party, at, by, reason))

    @staticmethod
    def _lift(sql: Sql, party: str, at: str, by: str, reason: str) -> BlacklistRow:
        found = sql.one(
            "UPDATE blacklist SET lifted_at = ?, lifted_by = ?, lift_reason = ? "
            f"WHERE party = ? AND lifted_at IS NULL RETURNING {BLACKLIST_COLUMNS}",
            (at, by, reason, party))
        if found is None:
            raise FailedPrecondition("the party is not blacklisted", reason="not_blacklisted")
        return blacklist_from_row(found)

    def list_blacklist(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and, on request, lifted ones), oldest first."""
        where = "TRUE" if include_lifted else "lifted_at IS NULL"
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {BLACKLIST_COLUMNS} FROM blacklist WHERE {where} ORDER BY entry_id"))
        return [blacklist_from_row(r) for r in rows]
