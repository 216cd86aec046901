"""The record lifecycle in the embedded store: states, objections, repairs, blacklist.

A mixin of :class:`gateway.records.sqlite_store.SqliteStore`; it uses the store's
connection, write transaction and per-subject cache. Every write that changes what
`find_records` returns for a subject (a state change, an objection opened or answered)
drops that subject from the cache after the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from gateway.errors import AlreadyExists, FailedPrecondition, NotFound, StoreUnavailable
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

T = TypeVar("T")

#: Columns the lifecycle adds to `records` (added in place to older files).
RECORD_LIFECYCLE_COLUMNS = (
    ("domain", "TEXT NOT NULL DEFAULT ''"),
    ("occupation", "TEXT NOT NULL DEFAULT ''"),
    ("state", "TEXT NOT NULL DEFAULT 'active'"),
    ("state_at", "TEXT"),
    ("state_ref", "TEXT NOT NULL DEFAULT ''"),
    ("replaces", "TEXT NOT NULL DEFAULT ''"),
)
#: Whether an objection to the record is open, as a column of a records query.
DISPUTED_SQL = ("EXISTS (SELECT 1 FROM objections o WHERE o.record_id = records.record_id "
                "AND o.status = 'open')")

LIFECYCLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS objections (
    objection_id  TEXT PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    filed_at      TEXT NOT NULL,
    due_date      TEXT NOT NULL,
    reason_ct     BLOB NOT NULL,
    status        TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT '',
    answered_at   TEXT,
    answered_by   TEXT NOT NULL DEFAULT '',
    answer_ct     BLOB NOT NULL DEFAULT x'',
    new_record_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS objections_one_open ON objections (record_id)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS objections_by_provider ON objections (provider, status);
CREATE INDEX IF NOT EXISTS objections_by_subject ON objections (subject_index);
CREATE TABLE IF NOT EXISTS repairs (
    repair_id     TEXT PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    approver      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    applied_at    TEXT NOT NULL,
    statement_ct  BLOB NOT NULL,
    status        TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    TEXT NOT NULL DEFAULT '',
    decision_ct   BLOB NOT NULL DEFAULT x''
);
CREATE UNIQUE INDEX IF NOT EXISTS repairs_one_pending ON repairs (record_id)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS repairs_by_approver ON repairs (approver, status);
CREATE INDEX IF NOT EXISTS repairs_by_subject ON repairs (subject_index);
CREATE TABLE IF NOT EXISTS blacklist (
    entry_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    party       TEXT NOT NULL,
    listed_at   TEXT NOT NULL,
    listed_by   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    lifted_at   TEXT,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS blacklist_one_active ON blacklist (party)
    WHERE lifted_at IS NULL;
"""

def migrate_records(conn: sqlite3.Connection) -> None:
    """Add the lifecycle columns to a records table made before they existed."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    for name, decl in RECORD_LIFECYCLE_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE records ADD COLUMN {name} {decl}")


def _filters(clauses: list[tuple[str, object]], subject_indexes: Sequence[str],
             ) -> tuple[str, list[object]]:
    where = [c for c, v in clauses if v is not None]
    params = [v for c, v in clauses if v is not None]
    if subject_indexes:
        where.append(f"subject_index IN ({','.join('?' * len(subject_indexes))})")
        params.extend(subject_indexes)
    return " AND ".join(where) or "1", params


class SqliteLifecycle:
    """Lifecycle methods of the RecordStore contract on SQLite (mixin of SqliteStore)."""

    # Provided by SqliteStore.
    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _invalidate(self, subject_indexes: Collection[str]) -> None:
        raise NotImplementedError

    def _load_record(self, conn: sqlite3.Connection, where: str,
                     params: Sequence[object]) -> StoredRecord | None:
        raise NotImplementedError

    def _insert_record(self, conn: sqlite3.Connection, rec: StoredRecord) -> None:
        raise NotImplementedError

    # -- plumbing ---------------------------------------------------------------------

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._conn())
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None

    def _change(self, work: Callable[[sqlite3.Connection], T],
                touched: Callable[[], Iterator[str]]) -> T:
        """Run work in one write transaction, then drop the subjects it touched."""
        try:
            with self._write() as conn:
                return work(conn)
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists("a record with this source_record_id exists",
                                reason="conflicting_resubmission", detail=str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        finally:
            self._invalidate(set(touched()))

    # -- records ------------------------------------------------------------------------

    def get_record(self, record_id: str) -> StoredRecord | None:
        """The record with this id in any state, or None."""
        return self._read(lambda c: self._load_record(c, "record_id = ?", (record_id,)))

    def find_record_by_source(self, provider: str, source_record_id: str) -> StoredRecord | None:
        """The provider's record with its own source id, in any state, or None."""
        return self._read(lambda c: self._load_record(
            c, "provider = ? AND source_record_id = ?", (provider, source_record_id)))

    def _active(self, conn: sqlite3.Connection, record_id: str) -> StoredRecord:
        rec = self._load_record(conn, "record_id = ?", (record_id,))
        if rec is None:
            raise NotFound("no record with this id", reason="record_unknown")
        if rec.state != ACTIVE:
            raise FailedPrecondition("the record is no longer in use",
                                     reason="record_not_active")
        return rec

    def retire_record(self, record_id: str, *, state: str, at: str, ref: str) -> StoredRecord:
        """Take an active record out of use; raises NotFound or FailedPrecondition."""
        subjects: list[str] = []

        def work(conn: sqlite3.Connection) -> StoredRecord:
            rec = self._active(conn, record_id)
            subjects.append(rec.subject_index)
            conn.execute("UPDATE records SET state = ?, state_at = ?, state_ref = ? "
                         "WHERE record_id = ?", (state, at, ref, record_id))
            found = self._load_record(conn, "record_id = ?", (record_id,))
            assert found is not None
            return found

        return self._change(work, lambda: iter(subjects))

    def disputed_record_ids(self, record_ids: Collection[str]) -> set[str]:
        """The ids among `record_ids` with an open objection (the public feed leaves them out)."""
        ids = list(record_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._read(lambda c: c.execute(
            f"SELECT record_id FROM objections WHERE status = 'open' AND record_id IN ({marks})",
            ids).fetchall())
        return {r[0] for r in rows}

    def submission_lags(self) -> list[tuple[str, int]]:
        """(provider, days from event date to submission) of every original submission."""
        rows = self._read(lambda c: c.execute(
            "SELECT provider, submitted_at, event_date FROM records WHERE replaces = '' "
            "ORDER BY provider").fetchall())
        return [(r[0], submission_lag(r[1], r[2])) for r in rows]

    # -- objections -------------------------------------------------------------------

    def put_objection(self, row: ObjectionRow) -> None:
        """File an objection; raises FailedPrecondition when the record is not active
        or already has an open objection."""

        def work(conn: sqlite3.Connection) -> None:
            self._active(conn, row.record_id)
            if conn.execute("SELECT 1 FROM objections WHERE record_id = ? AND status = 'open'",
                            (row.record_id,)).fetchone():
                raise FailedPrecondition("an objection to this record is already open",
                                         reason="objection_open")
            conn.execute(f"INSERT INTO objections ({OBJECTION_COLUMNS}) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (row.objection_id, row.record_id, row.provider, row.category,
                          row.subject_index, row.filed_at, row.due_date, row.reason_ciphertext,
                          row.status, row.outcome, row.answered_at, row.answered_by,
                          row.answer_ciphertext, row.new_record_id))

        self._change(work, lambda: iter([row.subject_index]))

    def get_objection(self, objection_id: str) -> ObjectionRow | None:
        """The objection with this id, or None."""
        row = self._read(lambda c: c.execute(
            f"SELECT {OBJECTION_COLUMNS} FROM objections WHERE objection_id = ?",
            (objection_id,)).fetchone())
        return objection_from_row(row) if row else None

    def list_objections(self, *, provider: str | None = None,
                        subject_indexes: Sequence[str] = (), status: str | None = None,
                        due_before: str | None = None, limit: int = 1000) -> list[ObjectionRow]:
        """Objections matching every given filter, oldest first."""
        where, params = _filters([("provider = ?", provider), ("status = ?", status),
                                  ("due_date < ?", due_before)], subject_indexes)
        rows = self._read(lambda c: c.execute(
            f"SELECT {OBJECTION_COLUMNS} FROM objections WHERE {where} "
            "ORDER BY filed_at, objection_id LIMIT ?", (*params, limit)).fetchall())
        return [objection_from_row(r) for r in rows]

    def answer_objection(self, objection_id: str, *, outcome: str, at: str, by: str,
                         answer_ciphertext: bytes,
                         correction: StoredRecord | None = None) -> ObjectionRow:
        """Answer an open objection, and correct or withdraw its record, atomically.

        Raises NotFound, FailedPrecondition (not open, or the record left use), or
        AlreadyExists (the correction's source id is taken).
        """
        subjects: list[str] = []

        def work(conn: sqlite3.Connection) -> ObjectionRow:
            found = conn.execute(f"SELECT {OBJECTION_COLUMNS} FROM objections "
                                 "WHERE objection_id = ?", (objection_id,)).fetchone()
            if found is None:
                raise NotFound("no objection with this id", reason="objection_unknown")
            obj = objection_from_row(found)
            subjects.append(obj.subject_index)
            if obj.status != OPEN:
                raise FailedPrecondition("the objection has been answered",
                                         reason="objection_answered")
            new_id = ""
            if outcome in (CORRECTED, WITHDRAWN):
                self._active(conn, obj.record_id)
                state, ref = WITHDRAWN_STATE, objection_id
                if outcome == CORRECTED:
                    if correction is None:
                        raise FailedPrecondition("a correction needs the corrected record")
                    self._insert_record(conn, correction)
                    subjects.append(correction.subject_index)  # may be under a newer key
                    new_id = ref = correction.record_id
                    state = SUPERSEDED
                conn.execute("UPDATE records SET state = ?, state_at = ?, state_ref = ? "
                             "WHERE record_id = ?", (state, at, ref, obj.record_id))
            conn.execute("UPDATE objections SET status = ?, outcome = ?, answered_at = ?, "
                         "answered_by = ?, answer_ct = ?, new_record_id = ? "
                         "WHERE objection_id = ?",
                         (ANSWERED, outcome, at, by, answer_ciphertext, new_id, objection_id))
            row = conn.execute(f"SELECT {OBJECTION_COLUMNS} FROM objections "
                               "WHERE objection_id = ?", (objection_id,)).fetchone()
            return objection_from_row(row)

        return self._change(work, lambda: iter(subjects))

    # -- repairs ----------------------------------------------------------------------

    def put_repair(self, row: RepairRow) -> None:
        """File a repair application; raises FailedPrecondition when the record is not
        active or already has a pending application."""

        def work(conn: sqlite3.Connection) -> None:
            self._active(conn, row.record_id)
            if conn.execute("SELECT 1 FROM repairs WHERE record_id = ? AND status = 'pending'",
                            (row.record_id,)).fetchone():
                raise FailedPrecondition("a repair application for this record is pending",
                                         reason="repair_pending")
            conn.execute(f"INSERT INTO repairs ({REPAIR_COLUMNS}) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (row.repair_id, row.record_id, row.provider, row.approver,
                          row.category, row.subject_index, row.applied_at,
                          row.statement_ciphertext, row.status, row.decided_at,
                          row.decided_by, row.decision_ciphertext))

        self._change(work, lambda: iter(()))

    def get_repair(self, repair_id: str) -> RepairRow | None:
        """The repair application with this id, or None."""
        row = self._read(lambda c: c.execute(
            f"SELECT {REPAIR_COLUMNS} FROM repairs WHERE repair_id = ?", (repair_id,)
        ).fetchone())
        return repair_from_row(row) if row else None

    def list_repairs(self, *, approver: str | None = None, subject_indexes: Sequence[str] = (),
                     status: str | None = None, limit: int = 1000) -> list[RepairRow]:
        """Repair applications matching every given filter, oldest first."""
        where, params = _filters([("approver = ?", approver), ("status = ?", status)],
                                 subject_indexes)
        rows = self._read(lambda c: c.execute(
            f"SELECT {REPAIR_COLUMNS} FROM repairs WHERE {where} "
            "ORDER BY applied_at, repair_id LIMIT ?", (*params, limit)).fetchall())
        return [repair_from_row(r) for r in rows]

    def decide_repair(self, repair_id: str, *, approve: bool, at: str, by: str,
                      decision_ciphertext: bytes) -> RepairRow:
        """Approve (the record leaves use) or reject a pending application, atomically.

        Raises NotFound, or FailedPrecondition when it was decided or the record left use.
        """
        subjects: list[str] = []

        def work(conn: sqlite3.Connection) -> RepairRow:
            found = conn.execute(f"SELECT {REPAIR_COLUMNS} FROM repairs WHERE repair_id = ?",
                                 (repair_id,)).fetchone()
            if found is None:
                raise NotFound("no repair application with this id", reason="repair_unknown")
            app = repair_from_row(found)
            subjects.append(app.subject_index)
            if app.status != PENDING:
                raise FailedPrecondition("the application has been decided",
                                         reason="repair_decided")
            if approve:
                self._active(conn, app.record_id)
                conn.execute("UPDATE records SET state = ?, state_at = ?, state_ref = ? "
                             "WHERE record_id = ?", (REPAIRED, at, repair_id, app.record_id))
            conn.execute("UPDATE repairs SET status = ?, decided_at = ?, decided_by = ?, "
                         "decision_ct = ? WHERE repair_id = ?",
                         (APPROVED if approve else REJECTED, at, by, decision_ciphertext,
                          repair_id))
            row = conn.execute(f"SELECT {REPAIR_COLUMNS} FROM repairs WHERE repair_id = ?",
                               (repair_id,)).fetchone()
            return repair_from_row(row)

        return self._change(work, lambda: iter(subjects))

    # -- blacklist --------------------------------------------------------------------

    def blacklist_party(self, row: BlacklistRow) -> BlacklistRow:
        """List a party; raises FailedPrecondition when it is listed already."""

        def work(conn: sqlite3.Connection) -> BlacklistRow:
            if conn.execute("SELECT 1 FROM blacklist WHERE party = ? AND lifted_at IS NULL",
                            (row.party,)).fetchone():
                raise FailedPrecondition("the party is blacklisted already",
                                         reason="already_blacklisted")
            cur = conn.execute("INSERT INTO blacklist (party, listed_at, listed_by, reason) "
                               "VALUES (?,?,?,?)",
                               (row.party, row.listed_at, row.listed_by, row.reason))
            found = conn.execute(f"SELECT {BLACKLIST_COLUMNS} FROM blacklist "
                                 "WHERE entry_id = ?", (cur.lastrowid,)).fetchone()
            return blacklist_from_row(found)

        return self._change(work, lambda: iter(()))

    def lift_blacklist(self, party: str, *, at: str, by: str, reason: str) -> BlacklistRow:
        """Lift a party's listing; raises FailedPrecondition when it is not listed."""

        def work(conn: sqlite3.Connection) -> BlacklistRow:
            found = conn.execute(f"SELECT {BLACKLIST_COLUMNS} FROM blacklist "
                                 "WHERE party = ? AND lifted_at IS NULL", (party,)).fetchone()
            if found is None:
                raise FailedPrecondition("the party is not blacklisted",
                                         reason="not_blacklisted")
            entry = blacklist_from_row(found)
            conn.execute("UPDATE blacklist SET lifted_at = ?, lifted_by = ?, lift_reason = ? "
                         "WHERE entry_id = ?", (at, by, reason, entry.entry_id))
            row = conn.execute(f"SELECT {BLACKLIST_COLUMNS} FROM blacklist WHERE entry_id = ?",
                               (entry.entry_id,)).fetchone()
            return blacklist_from_row(row)

        return self._change(work, lambda: iter(()))

    def list_blacklist(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and, on request, lifted ones), oldest first."""
        where = "1" if include_lifted else "lifted_at IS NULL"
        rows = self._read(lambda c: c.execute(
            f"SELECT {BLACKLIST_COLUMNS} FROM blacklist WHERE {where} ORDER BY entry_id"
        ).fetchall())
        return [blacklist_from_row(r) for r in rows]
