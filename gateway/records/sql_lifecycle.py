"""The record lifecycle in the one SQL store: states, objections, repairs.

A mixin of :class:`gateway.records.sql_store.SqlStore`. A method that changes a record
reads its row with the dialect's lock suffix inside one transaction (``FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes other writers), so two
instances answering, repairing or removing the same record at once cannot both
succeed; partial unique indexes keep one open objection and one pending repair per
record.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from gateway.errors import AlreadyExists, FailedPrecondition, NotFound
from gateway.records.lifecycle import ACTIVE, AWAITING_ALLOW, REPAIRED, SUPERSEDED, WITHDRAWN_STATE
from gateway.records.lifecycle_rows import (
    ANSWERED,
    APPROVED,
    CORRECTED,
    OBJECTION_COLUMNS,
    OPEN,
    PENDING,
    REJECTED,
    REPAIR_COLUMNS,
    WITHDRAWN,
    ObjectionRow,
    RepairRow,
    objection_from_row,
    repair_from_row,
    submission_lag,
)
from gateway.records.model import CountyRecordRow, StoredRecord
from gateway.records.sql_dialect import Database, Sql, marks
from gateway.records.sql_peers import SqlPeers
from gateway.records.sql_rows import (
    DISPUTED,
    INSERT_RECORD,
    SELECT_RECORD,
    as_date,
    record_from_row,
    record_params,
)


def _filters(clauses: list[tuple[str, object]], subject_indexes: Sequence[str],
             ) -> tuple[str, list[object]]:
    where = [c for c, v in clauses if v is not None]
    params = [v for c, v in clauses if v is not None]
    if subject_indexes:
        where.append(f"subject_index IN {marks(subject_indexes)}")
        params.extend(subject_indexes)
    return " AND ".join(where) or "TRUE", params


class SqlLifecycle(SqlPeers):
    """Lifecycle methods of the RecordStore contract (mixin of SqlStore)."""

    _db: Database

    # -- plumbing ---------------------------------------------------------------------

    def _load(self, sql: Sql, where: str, params: Sequence[object]) -> StoredRecord | None:
        row = sql.one(f"{SELECT_RECORD} WHERE {where}", params)
        return record_from_row(row) if row else None

    def _activate(self, sql: Sql, record_ids: Sequence[str]) -> int:
        """Make pending records active, in this transaction (corrections aside: each is
        its change's to make live); returns how many were still pending."""
        ids = list(record_ids)
        if not ids:
            return 0
        rows = sql.all(
            "UPDATE records SET state = ?, state_at = NULL, state_ref = '' "
            f"WHERE state = ? AND replaces = '' AND record_id IN {marks(ids)} "
            "RETURNING record_id, category, origin, submitted_at",
            (ACTIVE, AWAITING_ALLOW, *ids))
        # Live now: each goes to the peers of its category, in this transaction.
        for record_id, category, origin, at in sorted(tuple(r) for r in rows):
            self._queue(sql, record_id, category, origin, "listed", at)
        return len(rows)

    def _lock_active(self, sql: Sql, record_id: str) -> None:
        row = sql.one("SELECT state, origin FROM records WHERE record_id = ?"
                      f"{self._db.for_update}", (record_id,))
        if row is None:
            raise NotFound("no record with this id", reason="record_unknown")
        if row[1]:
            raise FailedPrecondition("the record came from another platform: only its "
                                     "origin changes it", reason="record_from_peer")
        if row[0] != ACTIVE:
            raise FailedPrecondition("the record is no longer in use",
                                     reason="record_not_active")

    @staticmethod
    def _set_state(sql: Sql, record_id: str, state: str, at: str, ref: str) -> None:
        sql.run("UPDATE records SET state = ?, state_at = ?, state_ref = ? WHERE record_id = ?",
                (state, at, ref, record_id))

    @staticmethod
    def _insert(sql: Sql, rec: StoredRecord) -> None:
        if sql.one(INSERT_RECORD, record_params(rec)) is None:
            raise AlreadyExists("a record with this source_record_id exists",
                                reason="conflicting_resubmission")

    def _put_correction(self, sql: Sql, rec: StoredRecord) -> None:
        """A correction goes live: the one stored pending with its change, else a new one."""
        if not sql.run("UPDATE records SET state = ?, state_at = NULL, state_ref = '' "
                       "WHERE record_id = ? AND state = ?",
                       (ACTIVE, rec.record_id, AWAITING_ALLOW)):
            self._insert(sql, rec)

    def _get(self, sql: Sql, table: str, columns: str, key: str, value: str,
             lock: bool = False) -> Sequence[object] | None:
        suffix = self._db.for_update if lock else ""
        return sql.one(f"SELECT {columns} FROM {table} WHERE {key} = ?{suffix}", (value,))

    # -- records ------------------------------------------------------------------------

    def get_record(self, record_id: str) -> StoredRecord | None:
        """The record with this id in any state but pending (with its disputed mark),
        or None."""
        return self._db.read(lambda sql: self._load(sql, "record_id = ? AND state <> ?",
                                                    (record_id, AWAITING_ALLOW)))

    def find_record_by_source(self, provider: str, source_record_id: str) -> StoredRecord | None:
        """The provider's record with its own source id, in any state, or None."""
        return self._db.read(lambda sql: self._load(
            sql, "provider = ? AND source_record_id = ?", (provider, source_record_id)))

    def retire_record(self, record_id: str, *, state: str, at: str, ref: str) -> StoredRecord:
        """Take an active record out of use (kept as evidence); raises NotFound, or
        FailedPrecondition when it is not active."""
        return self._db.write(lambda sql: self._retire(sql, record_id, state, at, ref))

    def _retire(self, sql: Sql, record_id: str, state: str, at: str, ref: str
                ) -> StoredRecord:
        self._lock_active(sql, record_id)
        self._set_state(sql, record_id, state, at, ref)
        self._changed(sql, record_id, state, at)
        found = self._load(sql, "record_id = ?", (record_id,))
        assert found is not None
        return found

    def revise_record(self, record_id: str, *, at: str, reason: str,
                      correction: StoredRecord | None = None) -> StoredRecord:
        """The provider's own correction or withdrawal, in one transaction."""
        return self._db.write(lambda sql: self._revise(sql, record_id, at, reason,
                                                       correction))

    def _revise(self, sql: Sql, record_id: str, at: str, reason: str,
                correction: StoredRecord | None) -> StoredRecord:
        self._lock_active(sql, record_id)
        if correction is not None:
            self._put_correction(sql, correction)
            self._set_state(sql, record_id, SUPERSEDED, at, correction.record_id)
            self._changed(sql, record_id, "corrected", at)
            self._changed(sql, correction.record_id, "correction", at)
        else:
            self._set_state(sql, record_id, WITHDRAWN_STATE, at, reason)
            self._changed(sql, record_id, "withdrawn", at)
        found = self._load(sql, "record_id = ?", (record_id,))
        assert found is not None
        return found

    def disputed_record_ids(self, record_ids: Collection[str]) -> set[str]:
        """The ids among `record_ids` that have an open objection."""
        ids = list(record_ids)
        if not ids:
            return set()
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT record_id FROM objections WHERE status = 'open' AND record_id IN "
            f"{marks(ids)}", ids))
        return {r[0] for r in rows}

    def submission_lags(self) -> list[tuple[str, int]]:
        """(provider, days from event date to submission) of every original submission."""
        rows = self._db.read(lambda sql: sql.all(
            "SELECT provider, submitted_at, event_date FROM records WHERE replaces = '' "
            "ORDER BY provider"))
        return [(r[0], submission_lag(r[1], r[2])) for r in rows]

    def publication_times(self, categories: Collection[str]
                          ) -> list[tuple[str, str, str, date]]:
        """(provider, category, submitted_at, event date) of every original submission of
        the categories in any state but pending: a late publication stays late after the
        record is corrected, repaired or removed."""
        if not categories:
            return []
        kinds = sorted(categories)
        rows = self._db.read(lambda sql: sql.all(
            "SELECT provider, category, submitted_at, event_date FROM records "
            f"WHERE replaces = '' AND state <> ? AND category IN {marks(kinds)} "
            "ORDER BY record_id", (AWAITING_ALLOW, *kinds)))
        return [(r[0], r[1], r[2], r[3] if isinstance(r[3], date) else date.fromisoformat(r[3]))
                for r in rows]

    def county_records(self) -> list[CountyRecordRow]:
        """Every record that belongs to a county (pending ones aside): its county, state,
        display end, whether it corrects another and whether it is disputed (supervision)."""
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT r.county, r.state, r.display_end, r.replaces, {DISPUTED} "
            "FROM records AS r WHERE r.county <> '' AND r.state <> ? ORDER BY r.county",
            (AWAITING_ALLOW,)))
        return [CountyRecordRow(county=r[0], state=r[1], display_end=as_date(r[2]),
                                replaces=r[3], disputed=bool(r[4])) for r in rows]

    # -- objections -------------------------------------------------------------------

    def put_objection(self, row: ObjectionRow) -> None:
        """File an objection; raises NotFound, or FailedPrecondition when the record is not
        active or already has an open objection."""
        self._db.write(lambda sql: self._file_objection(sql, row))

    def _file_objection(self, sql: Sql, row: ObjectionRow) -> None:
        self._lock_active(sql, row.record_id)
        self._insert_objection(sql, row)
        self._changed(sql, row.record_id, "disputed", row.filed_at)

    def put_forwarded_objection(self, row: ObjectionRow) -> None:
        """Keep the objection to a record received from a peer that was forwarded to its
        origin (row.origin_objection_id); raises NotFound or FailedPrecondition."""

        def work(sql: Sql) -> None:
            found = sql.one("SELECT origin FROM records WHERE record_id = ?"
                            f"{self._db.for_update}", (row.record_id,))
            if found is None:
                raise NotFound("no record with this id", reason="record_unknown")
            if not found[0] or not row.origin_objection_id:
                raise FailedPrecondition("only an objection to a received record is "
                                         "forwarded", reason="not_forwarded")
            self._insert_objection(sql, row)

        self._db.write(work)

    def settle_forwarded_objection(self, objection_id: str, *, outcome: str, at: str,
                                   by: str, answer_ciphertext: bytes) -> ObjectionRow:
        """Record the origin's answer to a forwarded objection (the record itself changes
        only by its origin's push); raises NotFound or FailedPrecondition."""

        def work(sql: Sql) -> ObjectionRow:
            row = sql.one("UPDATE objections SET status = ?, outcome = ?, answered_at = ?, "
                          "answered_by = ?, answer_ct = ? WHERE objection_id = ? "
                          "AND status = 'open' AND origin_objection_id <> '' "
                          f"RETURNING {OBJECTION_COLUMNS}",
                          (ANSWERED, outcome, at, by, answer_ciphertext, objection_id))
            if row is None:
                raise FailedPrecondition("no open forwarded objection with this id",
                                         reason="objection_answered")
            return objection_from_row(row)

        return self._db.write(work)

    @staticmethod
    def _insert_objection(sql: Sql, row: ObjectionRow) -> None:
        if sql.one("SELECT 1 FROM objections WHERE record_id = ? AND status = 'open'",
                   (row.record_id,)):
            raise FailedPrecondition("an objection to this record is already open",
                                     reason="objection_open")
        sql.run(f"INSERT INTO objections ({OBJECTION_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (row.objection_id, row.record_id, row.provider, row.category,
                 row.subject_index, row.filed_at, row.due_date, row.reason_ciphertext,
                 row.status, row.outcome, row.answered_at, row.answered_by,
                 row.answer_ciphertext, row.new_record_id, row.forwarded_by,
                 row.origin_objection_id))

    def get_objection(self, objection_id: str) -> ObjectionRow | None:
        """The objection with this id, or None."""
        row = self._db.read(lambda sql: self._get(sql, "objections", OBJECTION_COLUMNS,
                                                  "objection_id", objection_id))
        return objection_from_row(row) if row else None

    def list_objections(self, *, provider: str | None = None,
                        subject_indexes: Sequence[str] = (), status: str | None = None,
                        due_before: str | None = None, limit: int = 1000) -> list[ObjectionRow]:
        """Objections matching every given filter (due_before: due date earlier than this
        ISO date), oldest first."""
        where, params = _filters([("provider = ?", provider), ("status = ?", status),
                                  ("due_date < ?", due_before)], subject_indexes)
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {OBJECTION_COLUMNS} FROM objections WHERE {where} "
            "ORDER BY filed_at, objection_id LIMIT ?", (*params, limit)))
        return [objection_from_row(r) for r in rows]

    def answer_objection(self, objection_id: str, *, outcome: str, at: str, by: str,
                         answer_ciphertext: bytes,
                         correction: StoredRecord | None = None) -> ObjectionRow:
        """Answer an open objection and supersede (with `correction`) or withdraw its
        record in one transaction; raises NotFound, FailedPrecondition or AlreadyExists."""
        return self._db.write(lambda sql: self._answer_objection(
            sql, objection_id, outcome, at, by, answer_ciphertext, correction))

    def _answer_objection(self, sql: Sql, objection_id: str, outcome: str, at: str, by: str,
                          answer_ciphertext: bytes, correction: StoredRecord | None
                          ) -> ObjectionRow:
        found = self._get(sql, "objections", OBJECTION_COLUMNS, "objection_id",
                          objection_id, lock=True)
        if found is None:
            raise NotFound("no objection with this id", reason="objection_unknown")
        obj = objection_from_row(found)
        if obj.status != OPEN:
            raise FailedPrecondition("the objection has been answered",
                                     reason="objection_answered")
        new_id = ""
        if outcome in (CORRECTED, WITHDRAWN):
            self._lock_active(sql, obj.record_id)
            state, ref = WITHDRAWN_STATE, objection_id
            if outcome == CORRECTED:
                if correction is None:
                    raise FailedPrecondition("a correction needs the corrected record")
                self._put_correction(sql, correction)
                new_id = ref = correction.record_id
                state = SUPERSEDED
            self._set_state(sql, obj.record_id, state, at, ref)
            self._changed(sql, obj.record_id, outcome, at)
            if new_id:
                self._changed(sql, new_id, "correction", at)
        else:  # the record stands: only its disputed mark goes
            self._changed(sql, obj.record_id, "undisputed", at)
        row = sql.one("UPDATE objections SET status = ?, outcome = ?, answered_at = ?, "
                      "answered_by = ?, answer_ct = ?, new_record_id = ? "
                      f"WHERE objection_id = ? RETURNING {OBJECTION_COLUMNS}",
                      (ANSWERED, outcome, at, by, answer_ciphertext, new_id, objection_id))
        assert row is not None
        return objection_from_row(row)

    # -- repairs ----------------------------------------------------------------------

    def put_repair(self, row: RepairRow) -> None:
        """File a repair application; raises NotFound, or FailedPrecondition when the
        record is not active or an application for it is pending."""
        self._db.write(lambda sql: self._file_repair(sql, row))

    def _file_repair(self, sql: Sql, row: RepairRow) -> None:
        self._lock_active(sql, row.record_id)
        if sql.one("SELECT 1 FROM repairs WHERE record_id = ? AND status = 'pending'",
                   (row.record_id,)):
            raise FailedPrecondition("a repair application for this record is pending",
                                     reason="repair_pending")
        sql.run(f"INSERT INTO repairs ({REPAIR_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (row.repair_id, row.record_id, row.provider, row.approver, row.category,
                 row.subject_index, row.applied_at, row.statement_ciphertext, row.status,
                 row.decided_at, row.decided_by, row.decision_ciphertext))

    def get_repair(self, repair_id: str) -> RepairRow | None:
        """The repair application with this id, or None."""
        row = self._db.read(lambda sql: self._get(sql, "repairs", REPAIR_COLUMNS,
                                                  "repair_id", repair_id))
        return repair_from_row(row) if row else None

    def list_repairs(self, *, approver: str | None = None, subject_indexes: Sequence[str] = (),
                     status: str | None = None, limit: int = 1000) -> list[RepairRow]:
        """Repair applications matching every given filter, oldest first."""
        where, params = _filters([("approver = ?", approver), ("status = ?", status)],
                                 subject_indexes)
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {REPAIR_COLUMNS} FROM repairs WHERE {where} "
            "ORDER BY applied_at, repair_id LIMIT ?", (*params, limit)))
        return [repair_from_row(r) for r in rows]

    def decide_repair(self, repair_id: str, *, approve: bool, at: str, by: str,
                      decision_ciphertext: bytes) -> RepairRow:
        """Approve (the record becomes "repaired") or reject a pending application, in one
        transaction; raises NotFound or FailedPrecondition."""
        return self._db.write(lambda sql: self._decide_repair(
            sql, repair_id, approve, at, by, decision_ciphertext))

    def _decide_repair(self, sql: Sql, repair_id: str, approve: bool, at: str, by: str,
                       decision_ciphertext: bytes) -> RepairRow:
        found = self._get(sql, "repairs", REPAIR_COLUMNS, "repair_id", repair_id,
                          lock=True)
        if found is None:
            raise NotFound("no repair application with this id", reason="repair_unknown")
        app = repair_from_row(found)
        if app.status != PENDING:
            raise FailedPrecondition("the application has been decided",
                                     reason="repair_decided")
        if approve:
            self._lock_active(sql, app.record_id)
            self._set_state(sql, app.record_id, REPAIRED, at, repair_id)
            self._changed(sql, app.record_id, REPAIRED, at)
        row = sql.one("UPDATE repairs SET status = ?, decided_at = ?, decided_by = ?, "
                      f"decision_ct = ? WHERE repair_id = ? RETURNING {REPAIR_COLUMNS}",
                      (APPROVED if approve else REJECTED, at, by, decision_ciphertext,
                       repair_id))
        assert row is not None
        return repair_from_row(row)
