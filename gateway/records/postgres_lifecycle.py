"""The record lifecycle in the shared store: states, objections, repairs, blacklist.

A mixin of :class:`gateway.records.postgres_store.PostgresStore` with the same contract
as :mod:`gateway.records.sqlite_lifecycle`. A method that changes a record locks its row
(``SELECT ... FOR UPDATE``) inside one transaction, so two instances answering, repairing
or removing the same record at once cannot both succeed; partial unique indexes keep one
open objection, one pending repair and one listing in force per record or party.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from gateway.errors import AlreadyExists, FailedPrecondition, NotFound
from gateway.records.lifecycle import ACTIVE, REPAIRED, SUPERSEDED, WITHDRAWN_STATE
from gateway.records.lifecycle_rows import (
    ANSWERED,
    APPROVED,
    BLACKLIST_COLUMNS,
    CORRECTED,
    OBJECTION_COLUMNS,
    OPEN,
    PENDING,
    REJECTED,
    REPAIR_COLUMNS,
    WITHDRAWN,
    BlacklistRow,
    ObjectionRow,
    RepairRow,
    blacklist_from_row,
    objection_from_row,
    repair_from_row,
    submission_lag,
)
from gateway.records.model import StoredRecord
from gateway.records.sqlite_lifecycle import RECORD_LIFECYCLE_COLUMNS

T = TypeVar("T")
Conn = psycopg.Connection[Any]

#: Whether an objection to the record is open, for a query over records AS r.
DISPUTED_SQL = ("EXISTS (SELECT 1 FROM {schema}.objections o WHERE o.record_id = r.record_id "
                "AND o.status = 'open')")

LIFECYCLE_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.objections (
    objection_id  TEXT COLLATE "C" PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    filed_at      TEXT COLLATE "C" NOT NULL,
    due_date      TEXT COLLATE "C" NOT NULL,
    reason_ct     BYTEA NOT NULL,
    status        TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT '',
    answered_at   TEXT,
    answered_by   TEXT NOT NULL DEFAULT '',
    answer_ct     BYTEA NOT NULL DEFAULT '',
    new_record_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS objections_one_open ON {schema}.objections (record_id)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS objections_by_provider ON {schema}.objections (provider, status);
CREATE INDEX IF NOT EXISTS objections_by_subject ON {schema}.objections (subject_index);
CREATE TABLE IF NOT EXISTS {schema}.repairs (
    repair_id     TEXT COLLATE "C" PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    approver      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    applied_at    TEXT COLLATE "C" NOT NULL,
    statement_ct  BYTEA NOT NULL,
    status        TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    TEXT NOT NULL DEFAULT '',
    decision_ct   BYTEA NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS repairs_one_pending ON {schema}.repairs (record_id)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS repairs_by_approver ON {schema}.repairs (approver, status);
CREATE INDEX IF NOT EXISTS repairs_by_subject ON {schema}.repairs (subject_index);
CREATE TABLE IF NOT EXISTS {schema}.blacklist (
    entry_id    BIGSERIAL PRIMARY KEY,
    party       TEXT NOT NULL,
    listed_at   TEXT NOT NULL,
    listed_by   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    lifted_at   TEXT,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS blacklist_one_active ON {schema}.blacklist (party)
    WHERE lifted_at IS NULL;
"""


def _filters(clauses: list[tuple[str, object]], subject_indexes: Sequence[str],
             ) -> tuple[str, list[object]]:
    where = [c for c, v in clauses if v is not None]
    params = [v for c, v in clauses if v is not None]
    if subject_indexes:
        where.append("subject_index = ANY(%s::text[])")
        params.append(list(subject_indexes))
    return " AND ".join(where) or "TRUE", params


class PostgresLifecycle:
    """Lifecycle methods of the RecordStore contract on PostgreSQL (mixin)."""

    schema: str

    # Provided by PostgresStore.
    def _run(self, work: Callable[[Conn], T], *, retry: bool = False) -> T:
        raise NotImplementedError

    def _record_params(self, rec: StoredRecord) -> tuple[Any, ...]:
        raise NotImplementedError

    def _record_from_row(self, row: Sequence[Any]) -> StoredRecord:
        raise NotImplementedError

    _insert_columns: str

    # -- plumbing ---------------------------------------------------------------------

    def _q(self, text: str) -> sql.Composed:
        cache: dict[str, sql.Composed] = self.__dict__.setdefault("_lifecycle_queries", {})
        found = cache.get(text)
        if found is None:
            found = cache[text] = sql.SQL(text).format(schema=sql.Identifier(self.schema))
        return found

    def _select_record(self, where: str) -> sql.Composed:
        return self._q(f"SELECT {self._insert_columns}, {DISPUTED_SQL} "
                       f"FROM {{schema}}.records AS r WHERE {where}")

    def _load(self, conn: Conn, where: str, params: Sequence[object]) -> StoredRecord | None:
        row = conn.execute(self._select_record(where), tuple(params)).fetchone()
        return self._record_from_row(row) if row else None

    def _lock_active(self, conn: Conn, record_id: str) -> None:
        row = conn.execute(self._q("SELECT state FROM {schema}.records WHERE record_id = %s "
                                   "FOR UPDATE"), (record_id,)).fetchone()
        if row is None:
            raise NotFound("no record with this id", reason="record_unknown")
        if row[0] != ACTIVE:
            raise FailedPrecondition("the record is no longer in use",
                                     reason="record_not_active")

    def _set_state(self, conn: Conn, record_id: str, state: str, at: str, ref: str) -> None:
        conn.execute(self._q("UPDATE {schema}.records SET state = %s, state_at = %s, "
                             "state_ref = %s WHERE record_id = %s"), (state, at, ref, record_id))

    def _migrate_records(self, conn: Conn) -> None:
        """Add the lifecycle columns to a records table made before they existed.

        Only missing columns are added: ALTER TABLE takes an exclusive lock even when
        IF NOT EXISTS finds the column, which would stall the other instances' queries.
        """
        present = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'records'", (self.schema,))}
        for name, decl in RECORD_LIFECYCLE_COLUMNS:
            if name not in present:
                conn.execute(self._q(f"ALTER TABLE {{schema}}.records ADD COLUMN {name} {decl}"))

    # -- records ------------------------------------------------------------------------

    def get_record(self, record_id: str) -> StoredRecord | None:
        """The record with this id in any state, or None."""
        return self._run(lambda c: self._load(c, "record_id = %s", (record_id,)), retry=True)

    def find_record_by_source(self, provider: str, source_record_id: str) -> StoredRecord | None:
        """The provider's record with its own source id, in any state, or None."""
        return self._run(lambda c: self._load(c, "provider = %s AND source_record_id = %s",
                                              (provider, source_record_id)), retry=True)

    def retire_record(self, record_id: str, *, state: str, at: str, ref: str) -> StoredRecord:
        """Take an active record out of use; raises NotFound or FailedPrecondition."""

        def work(conn: Conn) -> StoredRecord:
            with conn.transaction():
                self._lock_active(conn, record_id)
                self._set_state(conn, record_id, state, at, ref)
                found = self._load(conn, "record_id = %s", (record_id,))
            assert found is not None
            return found

        return self._run(work)

    def disputed_record_ids(self, record_ids: Collection[str]) -> set[str]:
        """The ids among `record_ids` with an open objection."""
        if not record_ids:
            return set()
        rows = self._run(lambda c: c.execute(self._q(
            "SELECT record_id FROM {schema}.objections WHERE status = 'open' "
            "AND record_id = ANY(%s::text[])"), (list(record_ids),)).fetchall(), retry=True)
        return {r[0] for r in rows}

    def submission_lags(self) -> list[tuple[str, int]]:
        """(provider, days from event date to submission) of every original submission."""
        rows = self._run(lambda c: c.execute(self._q(
            "SELECT provider, submitted_at, event_date "
            "FROM {schema}.records WHERE replaces = '' ORDER BY provider")).fetchall(),
            retry=True)
        return [(r[0], submission_lag(r[1], r[2])) for r in rows]

    # -- objections -------------------------------------------------------------------

    def put_objection(self, row: ObjectionRow) -> None:
        """File an objection; raises NotFound or FailedPrecondition."""

        def work(conn: Conn) -> None:
            with conn.transaction():
                self._lock_active(conn, row.record_id)
                if conn.execute(self._q("SELECT 1 FROM {schema}.objections WHERE "
                                        "record_id = %s AND status = 'open'"),
                                (row.record_id,)).fetchone():
                    raise FailedPrecondition("an objection to this record is already open",
                                             reason="objection_open")
                conn.execute(self._q(f"INSERT INTO {{schema}}.objections ({OBJECTION_COLUMNS}) "
                                     "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"),
                             (row.objection_id, row.record_id, row.provider, row.category,
                              row.subject_index, row.filed_at, row.due_date,
                              row.reason_ciphertext, row.status, row.outcome, row.answered_at,
                              row.answered_by, row.answer_ciphertext, row.new_record_id))

        self._run(work)

    def _get(self, conn: Conn, table: str, columns: str, key: str, value: str,
             lock: bool = False) -> Sequence[Any] | None:
        suffix = " FOR UPDATE" if lock else ""
        return conn.execute(self._q(f"SELECT {columns} FROM {{schema}}.{table} "
                                    f"WHERE {key} = %s{suffix}"), (value,)).fetchone()

    def get_objection(self, objection_id: str) -> ObjectionRow | None:
        """The objection with this id, or None."""
        row = self._run(lambda c: self._get(c, "objections", OBJECTION_COLUMNS, "objection_id",
                                            objection_id), retry=True)
        return objection_from_row(row) if row else None

    def list_objections(self, *, provider: str | None = None,
                        subject_indexes: Sequence[str] = (), status: str | None = None,
                        due_before: str | None = None, limit: int = 1000) -> list[ObjectionRow]:
        """Objections matching every given filter, oldest first."""
        where, params = _filters([("provider = %s", provider), ("status = %s", status),
                                  ("due_date < %s", due_before)], subject_indexes)
        rows = self._run(lambda c: c.execute(self._q(
            f"SELECT {OBJECTION_COLUMNS} FROM {{schema}}.objections WHERE {where} "
            "ORDER BY filed_at, objection_id LIMIT %s"), (*params, limit)).fetchall(),
            retry=True)
        return [objection_from_row(r) for r in rows]

    def answer_objection(self, objection_id: str, *, outcome: str, at: str, by: str,
                         answer_ciphertext: bytes,
                         correction: StoredRecord | None = None) -> ObjectionRow:
        """Answer an open objection, and correct or withdraw its record, atomically."""

        def work(conn: Conn) -> ObjectionRow:
            with conn.transaction():
                found = self._get(conn, "objections", OBJECTION_COLUMNS, "objection_id",
                                  objection_id, lock=True)
                if found is None:
                    raise NotFound("no objection with this id", reason="objection_unknown")
                obj = objection_from_row(found)
                if obj.status != OPEN:
                    raise FailedPrecondition("the objection has been answered",
                                             reason="objection_answered")
                new_id = ""
                if outcome in (CORRECTED, WITHDRAWN):
                    self._lock_active(conn, obj.record_id)
                    state, ref = WITHDRAWN_STATE, objection_id
                    if outcome == CORRECTED:
                        if correction is None:
                            raise FailedPrecondition("a correction needs the corrected record")
                        self._insert(conn, correction)
                        new_id = ref = correction.record_id
                        state = SUPERSEDED
                    self._set_state(conn, obj.record_id, state, at, ref)
                conn.execute(self._q(
                    "UPDATE {schema}.objections SET status = %s, outcome = %s, "
                    "answered_at = %s, answered_by = %s, answer_ct = %s, new_record_id = %s "
                    "WHERE objection_id = %s"),
                    (ANSWERED, outcome, at, by, answer_ciphertext, new_id, objection_id))
                row = self._get(conn, "objections", OBJECTION_COLUMNS, "objection_id",
                                objection_id)
            assert row is not None
            return objection_from_row(row)

        return self._run(work)

    def _insert(self, conn: Conn, rec: StoredRecord) -> None:
        marks = ",".join(["%s"] * len(self._record_params(rec)))
        created = conn.execute(self._q(
            f"INSERT INTO {{schema}}.records ({self._insert_columns}) VALUES ({marks}) "
            "ON CONFLICT (provider, source_record_id) DO NOTHING RETURNING record_id"),
            self._record_params(rec)).fetchone()
        if created is None:
            raise AlreadyExists("a record with this source_record_id exists",
                                reason="conflicting_resubmission")

    # -- repairs ----------------------------------------------------------------------

    def put_repair(self, row: RepairRow) -> None:
        """File a repair application; raises NotFound or FailedPrecondition."""

        def work(conn: Conn) -> None:
            with conn.transaction():
                self._lock_active(conn, row.record_id)
                if conn.execute(self._q("SELECT 1 FROM {schema}.repairs WHERE record_id = %s "
                                        "AND status = 'pending'"), (row.record_id,)).fetchone():
                    raise FailedPrecondition("a repair application for this record is pending",
                                             reason="repair_pending")
                conn.execute(self._q(f"INSERT INTO {{schema}}.repairs ({REPAIR_COLUMNS}) "
                                     "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"),
                             (row.repair_id, row.record_id, row.provider, row.approver,
                              row.category, row.subject_index, row.applied_at,
                              row.statement_ciphertext, row.status, row.decided_at,
                              row.decided_by, row.decision_ciphertext))

        self._run(work)

    def get_repair(self, repair_id: str) -> RepairRow | None:
        """The repair application with this id, or None."""
        row = self._run(lambda c: self._get(c, "repairs", REPAIR_COLUMNS, "repair_id",
                                            repair_id), retry=True)
        return repair_from_row(row) if row else None

    def list_repairs(self, *, approver: str | None = None, subject_indexes: Sequence[str] = (),
                     status: str | None = None, limit: int = 1000) -> list[RepairRow]:
        """Repair applications matching every given filter, oldest first."""
        where, params = _filters([("approver = %s", approver), ("status = %s", status)],
                                 subject_indexes)
        rows = self._run(lambda c: c.execute(self._q(
            f"SELECT {REPAIR_COLUMNS} FROM {{schema}}.repairs WHERE {where} "
            "ORDER BY applied_at, repair_id LIMIT %s"), (*params, limit)).fetchall(),
            retry=True)
        return [repair_from_row(r) for r in rows]

    def decide_repair(self, repair_id: str, *, approve: bool, at: str, by: str,
                      decision_ciphertext: bytes) -> RepairRow:
        """Approve (the record leaves use) or reject a pending application, atomically."""

        def work(conn: Conn) -> RepairRow:
            with conn.transaction():
                found = self._get(conn, "repairs", REPAIR_COLUMNS, "repair_id", repair_id,
                                  lock=True)
                if found is None:
                    raise NotFound("no repair application with this id",
                                   reason="repair_unknown")
                app = repair_from_row(found)
                if app.status != PENDING:
                    raise FailedPrecondition("the application has been decided",
                                             reason="repair_decided")
                if approve:
                    self._lock_active(conn, app.record_id)
                    self._set_state(conn, app.record_id, REPAIRED, at, repair_id)
                conn.execute(self._q("UPDATE {schema}.repairs SET status = %s, decided_at = %s, "
                                     "decided_by = %s, decision_ct = %s WHERE repair_id = %s"),
                             (APPROVED if approve else REJECTED, at, by, decision_ciphertext,
                              repair_id))
                row = self._get(conn, "repairs", REPAIR_COLUMNS, "repair_id", repair_id)
            assert row is not None
            return repair_from_row(row)

        return self._run(work)

    # -- blacklist --------------------------------------------------------------------

    def blacklist_party(self, row: BlacklistRow) -> BlacklistRow:
        """List a party; raises FailedPrecondition when it is listed already."""
        found = self._run(lambda c: c.execute(self._q(
            "INSERT INTO {schema}.blacklist (party, listed_at, listed_by, reason) "
            "VALUES (%s,%s,%s,%s) ON CONFLICT (party) WHERE lifted_at IS NULL DO NOTHING "
            f"RETURNING {BLACKLIST_COLUMNS}"),
            (row.party, row.listed_at, row.listed_by, row.reason)).fetchone())
        if found is None:
            raise FailedPrecondition("the party is blacklisted already",
                                     reason="already_blacklisted")
        return blacklist_from_row(found)

    def lift_blacklist(self, party: str, *, at: str, by: str, reason: str) -> BlacklistRow:
        """Lift a party's listing; raises FailedPrecondition when it is not listed."""
        found = self._run(lambda c: c.execute(self._q(
            "UPDATE {schema}.blacklist SET lifted_at = %s, lifted_by = %s, lift_reason = %s "
            f"WHERE party = %s AND lifted_at IS NULL RETURNING {BLACKLIST_COLUMNS}"),
            (at, by, reason, party)).fetchone())
        if found is None:
            raise FailedPrecondition("the party is not blacklisted", reason="not_blacklisted")
        return blacklist_from_row(found)

    def list_blacklist(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and, on request, lifted ones), oldest first."""
        where = "TRUE" if include_lifted else "lifted_at IS NULL"
        rows = self._run(lambda c: c.execute(self._q(
            f"SELECT {BLACKLIST_COLUMNS} FROM {{schema}}.blacklist WHERE {where} "
            "ORDER BY entry_id")).fetchall(), retry=True)
        return [blacklist_from_row(r) for r in rows]
