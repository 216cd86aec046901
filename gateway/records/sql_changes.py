"""Changes awaiting their call's allow entry, in the one SQL store.

A mixin of :class:`gateway.records.sql_store.SqlStore`; what a change is and why it is
staged: :mod:`gateway.records.changes`. A change is applied by the same code that would
make it at once (the lifecycle's, the consents', the peers' statements), so each rule
is written once: staging runs it under a savepoint and rolls it back, applying runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from gateway.clock import rfc3339
from gateway.errors import FailedPrecondition
from gateway.records.answered_once import already_answered, answered_by
from gateway.records.changes import (
    ANSWER_OBJECTION,
    ANSWER_ONCE,
    APPLY_REPAIR,
    APPROVE_POLICY,
    BLACKLIST,
    DECIDE_REPAIR,
    FILE_OBJECTION,
    ISSUE_CONSENT,
    LIFT_BLACKLIST,
    PROPOSE_POLICY,
    RECEIVE,
    REJECT_POLICY,
    REMOVE_RECORD,
    REVISE_RECORD,
    REVOKE_CONSENT,
    Change,
    R,
    StagedChange,
    decode_args,
    encode_args,
    received_changes,
)
from gateway.records.lifecycle import ACTIVE, AWAITING_ALLOW, REMOVED
from gateway.records.lifecycle_rows import BlacklistRow, ObjectionRow, RepairRow
from gateway.records.model import StoredRecord, pending_owner
from gateway.records.sql_blacklist import SqlBlacklist
from gateway.records.sql_dialect import Sql, marks
from gateway.records.sql_lifecycle import SqlLifecycle
from gateway.records.sql_policy import SqlPolicy
from gateway.records.sql_rows import SELECT_RECORD, record_from_row
from gateway.records.store import ConsentRow

_COLUMNS = "target, request_id, since, kind, args"


class SqlChanges(SqlLifecycle, SqlBlacklist, SqlPolicy):
    """Staging and applying changes (RecordStore contract; mixin of SqlStore)."""

    # The consents' statements, in SqlStore.
    _put_consent: Callable[[Sql, ConsentRow], bool]
    _revoke_consent: Callable[[Sql, str, str, str], ConsentRow]

    def stage_change(self, change: Change[R], *, request_id: str, at: datetime) -> R:
        """Keep a change for the request's allow entry, after its own checks; what the
        change will give (the row as it will be changed, a count).

        Raises what the change would raise now (NotFound, FailedPrecondition,
        AlreadyExists), or FailedPrecondition (reason change_under_way) while another
        change of the same target awaits its call's allow entry.
        """
        since = rfc3339(at)

        def work(sql: Sql) -> R:
            if sql.one(f"INSERT INTO pending_changes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (target) DO NOTHING RETURNING target",
                       (change.target, request_id, since, change.kind,
                        encode_args(change.args))) is None:
                raise FailedPrecondition("another change of this is under way; try again "
                                         "in a few minutes", reason="change_under_way")
            # The change's own checks, under its row locks, then undone: it is made
            # after the allow entry, and its target stays taken until then.
            sql.run("SAVEPOINT dry_run")
            gives = cast(R, self._apply(sql, change))
            sql.run("ROLLBACK TO SAVEPOINT dry_run")
            if change.record is not None:  # a correction: pending until the change applies
                self._insert(sql, replace(change.record, state=AWAITING_ALLOW, state_at=since,
                                          state_ref=pending_owner(request_id, since)))
            return gives

        return self._db.write(work)

    def apply_changes(self, request_id: str) -> int:
        """Make the changes staged for a request (its allow entry committed), in one
        transaction; returns how many there were. Raises StoreUnavailable."""

        def work(sql: Sql) -> int:
            rows = sql.all(f"DELETE FROM pending_changes WHERE request_id = ? "
                           f"RETURNING {_COLUMNS}", (request_id,))
            for row in sorted(rows, key=lambda r: r[0]):  # one lock order: by target
                self._apply(sql, _staged(row).change)
            return len(rows)

        return int(self._db.write(work))

    def drop_changes(self, request_id: str) -> int:
        """Drop what a request staged (its call failed before its allow entry)."""

        def work(sql: Sql) -> int:
            rows = sql.all(f"DELETE FROM pending_changes WHERE request_id = ? "
                           f"RETURNING {_COLUMNS}", (request_id,))
            for row in rows:
                self._drop_correction(sql, _staged(row).change)
            return len(rows)

        return int(self._db.write(work))

    def pending_changes(self, *, pending_before: datetime, limit: int = 1000
                        ) -> list[StagedChange]:
        """Changes staged before a time, oldest first."""
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {_COLUMNS} FROM pending_changes WHERE since < ? "
            "ORDER BY since, target LIMIT ?", (rfc3339(pending_before), limit)))
        return [_staged(r) for r in rows]

    def drop_pending_change(self, staged: StagedChange) -> bool:
        """Drop a staged change as listed; False when it went since (applied, or dropped)."""

        def work(sql: Sql) -> bool:
            gone = sql.one("DELETE FROM pending_changes WHERE target = ? AND request_id = ? "
                           "AND since = ? RETURNING target",
                           (staged.change.target, staged.request_id, staged.since))
            if gone is not None:
                self._drop_correction(sql, staged.change)
            return gone is not None

        return bool(self._db.write(work))

    def awaiting_targets(self, kind: str) -> set[str]:
        """The targets of the changes of one kind that await their allow entry."""
        rows = self._db.read(lambda sql: sql.all(
            "SELECT target FROM pending_changes WHERE kind = ?", (kind,)))
        return {r[0] for r in rows}

    # -- the changes ------------------------------------------------------------------

    def _apply(self, sql: Sql, change: Change[Any]) -> object:
        a = change.args
        kinds: dict[str, Callable[[], object]] = {
            REMOVE_RECORD: lambda: self._retire(sql, a["record_id"], REMOVED, a["at"],
                                                a["reason"]),
            REVISE_RECORD: lambda: self._revise(sql, a["record_id"], a["at"], a["reason"],
                                                self._correction(sql, change)),
            FILE_OBJECTION: lambda: self._file_objection(sql, ObjectionRow(**a)),
            ANSWER_OBJECTION: lambda: self._answer_objection(
                sql, a["objection_id"], a["outcome"], a["at"], a["by"],
                a["answer_ciphertext"], self._correction(sql, change)),
            APPLY_REPAIR: lambda: self._file_repair(sql, RepairRow(**a)),
            DECIDE_REPAIR: lambda: self._decide_repair(sql, a["repair_id"], a["approve"],
                                                       a["at"], a["by"],
                                                       a["decision_ciphertext"]),
            BLACKLIST: lambda: self._blacklist(sql, BlacklistRow(**a)),
            LIFT_BLACKLIST: lambda: self._lift(sql, a["party"], a["at"], a["by"],
                                               a["reason"]),
            ISSUE_CONSENT: lambda: self._put_consent(sql, ConsentRow(**a)),
            REVOKE_CONSENT: lambda: self._revoke_consent(sql, a["consent_id"], a["at"],
                                                         a["reason"]),
            RECEIVE: lambda: self._apply_received(sql, a["origin"], received_changes(a)),
            PROPOSE_POLICY: lambda: self._add_version(sql, **a),
            APPROVE_POLICY: lambda: self._activate_version(
                sql, a["version_id"], a["approver"], a["at"], a["over_bundle"], a["comment"]),
            REJECT_POLICY: lambda: self._reject_version(sql, a["version_id"], a["at"],
                                                        a["reason"], a["comment"]),
            ANSWER_ONCE: lambda: self._answer_once(sql, a["target_id"], a["answer_id"]),
        }
        return kinds[change.kind]()

    def _answer_once(self, sql: Sql, target_id: str, answer_id: str) -> None:
        """The answer goes live unless another answer to the record is live."""
        target = self._load(sql, "record_id = ?", (target_id,))
        answer = self._load(sql, "record_id = ?", (answer_id,))
        if target is None or answer is None:
            raise FailedPrecondition("the answered record or its answer is gone",
                                     reason="answer_target_unknown")
        # The person's blind index as each was stored (they differ while an index key
        # rotates).
        subjects = sorted({target.subject_index, answer.subject_index})
        rows = sql.all(f"{SELECT_RECORD} WHERE subject_index IN {marks(subjects)} "
                       "AND category = ? AND state = ? AND record_id <> ?",
                       (*subjects, answer.category, ACTIVE, answer_id))
        if any(answered_by(record_from_row(r)) == target_id for r in rows):
            raise already_answered(answer.category)
        self._activate(sql, [answer_id])

    def _correction(self, sql: Sql, change: Change[Any]) -> StoredRecord | None:
        """The record a change adds: as given while staging, then the pending one."""
        if change.record is not None or not change.args.get("correction"):
            return change.record
        found = self._load(sql, "record_id = ? AND state = ?",
                           (change.args["correction"], AWAITING_ALLOW))
        if found is None:
            raise FailedPrecondition("the correction of a staged change is missing")
        return found

    @staticmethod
    def _drop_correction(sql: Sql, change: Change[Any]) -> None:
        correction = change.args.get("correction")
        if correction:
            sql.run("DELETE FROM records WHERE record_id = ? AND state = ?",
                    (correction, AWAITING_ALLOW))


def _staged(row: Any) -> StagedChange:
    """A StagedChange from _COLUMNS."""
    args: Mapping[str, Any] = decode_args(row[4])
    return StagedChange(change=Change(kind=row[3], target=row[0], args=args),
                        request_id=row[1], since=row[2])
