"""The record store, written once over a dialect adapter (SQLite or PostgreSQL).

Every query is here (and in :mod:`gateway.records.sql_lifecycle`), in SQL both back ends
accept; :mod:`gateway.records.sql_dialect` says what a back end supplies, and
:mod:`gateway.records.sqlite_store` / :mod:`gateway.records.postgres_store` supply it.
The schema and its versions are in :mod:`gateway.records.migrations`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from gateway.clock import rfc3339
from gateway.errors import AlreadyExists, ConsentRefused, NotFound, StoreUnavailable
from gateway.records.changes import REVOKE_CONSENT, revoke_consent
from gateway.records.lifecycle import ACTIVE, AWAITING_ALLOW
from gateway.records.model import PendingRecord, PutResult, StoredRecord, pending_owner
from gateway.records.sql_changes import SqlChanges
from gateway.records.sql_dialect import Database, Row, Sql, marks
from gateway.records.sql_quotas import SqlQuotas
from gateway.records.sql_rekey import SqlRekey
from gateway.records.sql_requests import SqlRequests
from gateway.records.sql_rows import (
    CONSENT_COLUMNS,
    INSERT_RECORD,
    SELECT_RECORD,
    consent_from_row,
    encode_fields,
    record_from_row,
    record_params,
)
from gateway.records.store import ConsentRow

#: Whether a revocation of the consent awaits its call's allow entry (parameter: its target).
_STAGED_REVOCATION = ("SELECT 1 FROM pending_changes WHERE target = ? "
                      f"AND kind = '{REVOKE_CONSENT}'")


class SqlStore(SqlChanges, SqlRekey, SqlRequests, SqlQuotas):
    """The RecordStore contract (gateway.records.store) over one Database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- records ------------------------------------------------------------------

    def put_records(self, records: Sequence[StoredRecord], *, pending_for: str = "",
                    at: datetime | None = None) -> list[PutResult]:
        """Store a batch atomically, idempotent per (provider, source_record_id).

        With `pending_for` (a request id) and `at` (now) new records are stored pending
        for that request (gateway.records.lifecycle), and pending ones it submits again
        are pending for it too. Raises AlreadyExists (naming the batch index) when a
        source id was stored before with different content; then nothing is stored.
        """
        if not records:
            return []
        if pending_for:
            if at is None:
                raise ValueError("a pending submission needs its time")
            since = rfc3339(at)
            owner = pending_owner(pending_for, since)
            records = [replace(r, state=AWAITING_ALLOW, state_at=since, state_ref=owner)
                       for r in records]
        else:
            owner = ""
        return self._db.write(lambda sql: self._put_records(sql, records, owner))

    def _put_records(self, sql: Sql, records: Sequence[StoredRecord],
                     owner: str) -> list[PutResult]:
        # Insert in key order (stable, so earlier batch entries go first among equal
        # keys): two batches that share keys lock them in the same order and cannot
        # deadlock on each other.
        order = sorted(range(len(records)),
                       key=lambda i: (records[i].provider, records[i].source_record_id))
        inserted = sql.each_returning(INSERT_RECORD, [record_params(records[i]) for i in order])
        created = {i for i, row in zip(order, inserted, strict=True) if row is not None}
        for i in sorted(created):  # a new live record goes to the peers of its category
            rec = records[i]
            if rec.state == ACTIVE:  # a pending one goes when it is activated
                self._queue(sql, rec.record_id, rec.category, rec.origin, "listed",
                            rec.submitted_at)
        results: list[PutResult] = []
        for index, rec in enumerate(records):
            if index in created:
                results.append(PutResult(index, rec.record_id, True))
                continue
            found = sql.one("SELECT record_id, submission_digest, state, replaces "
                            "FROM records WHERE provider = ? AND source_record_id = ?",
                            (rec.provider, rec.source_record_id))
            if found is None:  # the sweeper dropped a pending row in between: try again
                raise StoreUnavailable("record store unavailable",
                                       detail=f"record {index}: conflicting row not found")
            # A correction awaiting its change (gateway.records.changes) is no submission.
            if found[1] != rec.submission_digest or (found[2] == AWAITING_ALLOW
                                                     and found[3] and not rec.replaces):
                raise AlreadyExists(
                    f"record {index}: source_record_id was submitted before "
                    "with different content",
                    reason="conflicting_resubmission",
                )
            taken_up = bool(owner) and found[2] == AWAITING_ALLOW
            if taken_up:
                # A call that died before its outcome left it: this request may decide
                # it now. The row names both (the sweeper activates it if either has an
                # allow entry), and its new time keeps the sweeper off it meanwhile.
                sql.run("UPDATE records SET state_at = ?, state_ref = state_ref || ? "
                        "WHERE record_id = ? AND state = ?",
                        (rec.state_at, f" {owner}", found[0], AWAITING_ALLOW))
            results.append(PutResult(index, found[0], taken_up))
        return results

    def activate_pending(self, record_ids: Sequence[str]) -> int:
        """Make pending records active (their submission's allow entry committed);
        returns how many were still pending. A pending correction is its change's to
        make live (gateway.records.changes), never made live here."""
        if not record_ids:
            return 0
        return self._db.write(lambda sql: self._activate(sql, record_ids))

    def pending_records(self, *, pending_before: datetime, limit: int = 1000
                        ) -> list[PendingRecord]:
        """Records pending since before a time, oldest first (corrections aside: each
        goes live or goes with its change, gateway.records.changes)."""
        rows = self._db.read(lambda sql: sql.all(
            "SELECT record_id, state_ref, state_at FROM records WHERE state = ? "
            "AND state_at < ? AND replaces = '' ORDER BY state_at, record_id LIMIT ?",
            (AWAITING_ALLOW, rfc3339(pending_before), limit)))
        return [PendingRecord(r[0], r[1], r[2]) for r in rows]

    def drop_pending(self, record: PendingRecord) -> bool:
        """Drop a pending record none of whose requests has an allow entry; False when
        it changed since it was listed (a retry took it up, or it became active)."""
        return self._db.write(lambda sql: sql.run(
            "DELETE FROM records WHERE record_id = ? AND state = ? AND state_at = ? "
            "AND state_ref = ?", (record.record_id, AWAITING_ALLOW, record.since,
                                  record.owners))) == 1

    def find_records(
        self, subject_indexes: Sequence[str], categories: Collection[str], *,
        archived: bool = False,
    ) -> list[StoredRecord]:
        """Records of a subject (by any of its blind indexes) in the given categories,
        oldest event first; only live ("active") ones unless `archived`."""
        if not subject_indexes or not categories:
            return []
        wanted = set(categories)
        cache = self._db.cache
        if cache is None:
            subjects, kinds = list(subject_indexes), sorted(wanted)
            rows = self._db.read(lambda sql: sql.all(
                f"{SELECT_RECORD} WHERE subject_index IN {marks(subjects)} "
                f"AND category IN {marks(kinds)} AND state <> 'pending' "
                "AND (? OR state = 'active') "
                "ORDER BY event_date, record_id", (*subjects, *kinds, archived)))
            return [record_from_row(r) for r in rows]
        found: list[StoredRecord] = []
        for records in cache.records(list(dict.fromkeys(subject_indexes)),
                                     self._subjects).values():
            found.extend(r for r in records
                         if r.category in wanted and r.state != AWAITING_ALLOW
                         and (archived or r.state == ACTIVE))
        if len(subject_indexes) > 1:
            found.sort(key=lambda r: (r.event_date, r.record_id))
        return found

    def _subjects(self, subject_indexes: Sequence[str]) -> dict[str, tuple[StoredRecord, ...]]:
        """Every record of the blind indexes, in any state, read in one statement (one
        snapshot: a record moving from one index to another during a key rotation is
        seen once, never twice or not at all); what the cache holds."""
        rows = self._db.read(lambda sql: sql.all(
            f"{SELECT_RECORD} WHERE subject_index IN {marks(subject_indexes)} "
            "ORDER BY event_date, record_id", subject_indexes))
        out: dict[str, list[StoredRecord]] = {index: [] for index in subject_indexes}
        for row in rows:
            record = record_from_row(row)
            out[record.subject_index].append(record)
        return {index: tuple(records) for index, records in out.items()}

    def records_in_categories(self, categories: Collection[str], *, after: str = "",
                              limit: int = 500) -> list[StoredRecord]:
        """Active records of any subject in the categories, by record id after `after`."""
        if not categories:
            return []
        kinds = sorted(categories)
        rows = self._db.read(lambda sql: sql.all(
            f"{SELECT_RECORD} WHERE category IN {marks(kinds)} AND state = 'active' "
            "AND record_id > ? ORDER BY record_id LIMIT ?", (*kinds, after, limit)))
        return [record_from_row(r) for r in rows]

    def records_page(self, *, after: str = "", limit: int = 500) -> list[StoredRecord]:
        """Records in any state, by record id after `after` (for re-encryption)."""
        rows = self._db.read(lambda sql: sql.all(
            f"{SELECT_RECORD} WHERE record_id > ? ORDER BY record_id LIMIT ?", (after, limit)))
        return [record_from_row(r) for r in rows]

    def rekey_records(self, changes: Sequence[tuple[StoredRecord, StoredRecord]]
                      ) -> list[bool]:
        """Replace records' blind index, ciphertexts and submission digest, each only if
        still the old one's.

        A compare-and-set per record, all in one transaction: two re-encryptions (or a
        re-encryption and any other write) racing on a record cannot overwrite each
        other; the loser gets False for it.
        """
        if not changes:
            return []
        params = [(new.subject_index, new.subject_ciphertext, encode_fields(new.fields),
                   new.submission_digest, old.record_id, old.subject_index,
                   old.subject_ciphertext, encode_fields(old.fields), old.submission_digest)
                  for old, new in changes]
        done = self._db.write(lambda sql: sql.each_returning(
            "UPDATE records SET subject_index = ?, subject_ct = ?, fields = ?, "
            "submission_digest = ? WHERE record_id = ? AND subject_index = ? "
            "AND subject_ct = ? AND fields = ? AND submission_digest = ? "
            "RETURNING record_id", params))
        return [row is not None for row in done]

    # -- consents -----------------------------------------------------------------

    def put_consent(self, row: ConsentRow) -> bool:
        """Register a consent; False when the same artefact was registered before.

        Raises AlreadyExists when the id is taken by a different artefact.
        """
        return self._db.write(lambda sql: self._put_consent(sql, row))

    @staticmethod
    def _put_consent(sql: Sql, row: ConsentRow) -> bool:
        args = (
            row.consent_id, row.issuer, row.grantee, row.purpose, row.subject_index,
            row.not_before, row.not_after, row.max_uses, row.artefact_ciphertext,
            row.signature, row.issued_at, row.uses, row.revoked_at, row.revoke_reason,
        )

        if sql.one(f"INSERT INTO consents ({CONSENT_COLUMNS}) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                   "ON CONFLICT (consent_id) DO NOTHING RETURNING consent_id", args):
            return True
        existing = sql.one("SELECT signature FROM consents WHERE consent_id = ?",
                           (row.consent_id,))
        if existing is None:  # nothing ever deletes a consent
            raise StoreUnavailable("record store unavailable",
                                   detail="conflicting consent not found")
        if bytes(existing[0]) != row.signature:
            raise AlreadyExists("a different consent with this id exists",
                                reason="consent_id_taken")
        return False

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        """The consent with this id, or None."""
        row = self._db.read(lambda sql: sql.one(
            f"SELECT {CONSENT_COLUMNS} FROM consents WHERE consent_id = ?", (consent_id,)))
        return consent_from_row(row) if row else None

    def revoke_consent(self, consent_id: str, *, at: str, reason: str) -> ConsentRow:
        """Mark a consent revoked; revoking twice keeps the first time and reason.

        Raises NotFound.
        """
        return self._db.write(lambda sql: self._revoke_consent(sql, consent_id, at, reason))

    @staticmethod
    def _revoke_consent(sql: Sql, consent_id: str, at: str, reason: str) -> ConsentRow:
        # Every SET expression sees the old row, so the CASE tests the revocation time
        # from before this statement: the first revocation is kept.
        row = sql.one(
            "UPDATE consents SET revoked_at = COALESCE(revoked_at, ?), "
            "revoke_reason = CASE WHEN revoked_at IS NULL THEN ? ELSE revoke_reason END "
            f"WHERE consent_id = ? RETURNING {CONSENT_COLUMNS}", (at, reason, consent_id))
        if row is None:
            raise NotFound("no consent with this id", reason="consent_unknown")
        return consent_from_row(row)

    def consents_page(self, *, after: str = "", limit: int = 500) -> list[ConsentRow]:
        """Consents by id after `after` (for re-encryption)."""
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {CONSENT_COLUMNS} FROM consents WHERE consent_id > ? "
            "ORDER BY consent_id LIMIT ?", (after, limit)))
        return [consent_from_row(r) for r in rows]

    def rekey_consents(self, changes: Sequence[tuple[ConsentRow, ConsentRow]]) -> list[bool]:
        """Replace consents' blind index and sealed artefact and reason, each only if still
        the old one's (a compare-and-set each, one transaction); counts of uses untouched."""
        if not changes:
            return []
        params = [(new.subject_index, new.artefact_ciphertext, new.revoke_reason,
                   old.consent_id, old.subject_index, old.artefact_ciphertext,
                   old.revoke_reason or "") for old, new in changes]
        done = self._db.write(lambda sql: sql.each_returning(
            "UPDATE consents SET subject_index = ?, artefact_ct = ?, revoke_reason = ? "
            "WHERE consent_id = ? AND subject_index = ? AND artefact_ct = ? "
            "AND COALESCE(revoke_reason, '') = ? RETURNING consent_id", params))
        return [row is not None for row in done]

    def use_consent(self, consent_id: str, *, request_id: str = "", used_by: str = "",
                    at: datetime | None = None) -> int:
        """Count one use atomically; returns the new count.

        With a `request_id`, which request used it is recorded in the same transaction
        (gateway.consent.uses), so that the use can be given back if the call releases
        nothing. Raises ConsentRefused when the consent is revoked or used up by then.
        """

        revocation = revoke_consent(consent_id, at="", reason="").target

        def work(sql: Sql) -> tuple[int | None, Row | None]:
            # On PostgreSQL (READ COMMITTED) a concurrent UPDATE of the row makes this one
            # wait and re-check its WHERE against the new row: never more than max_uses.
            # A revocation staged for its allow entry counts at once (narrowing only).
            used = sql.one("UPDATE consents SET uses = uses + 1 WHERE consent_id = ? "
                           "AND revoked_at IS NULL AND uses < max_uses AND NOT EXISTS "
                           f"({_STAGED_REVOCATION}) RETURNING uses",
                           (consent_id, revocation))
            if used is not None:
                if request_id:
                    sql.run("INSERT INTO consent_uses (request_id, consent_id, used_by, "
                            "used_at) VALUES (?, ?, ?, ?)",
                            (request_id, consent_id, used_by,
                             int((at or datetime.now(UTC)).timestamp())))
                return int(used[0]), None
            # Refused: the state after the refusal (a fresh snapshot) says why.
            return None, sql.one(
                f"SELECT uses, revoked_at, EXISTS ({_STAGED_REVOCATION}) FROM consents "
                "WHERE consent_id = ?", (revocation, consent_id))

        # Changes no record: the record cache stays warm (issue 12: every consented
        # query used to empty it and read its records again).
        uses, state = self._db.write(work, records=False)
        if uses is not None:
            return uses
        if state is None:
            raise ConsentRefused("consent is not registered", reason="consent_unknown")
        if state[1] is not None or state[2]:
            raise ConsentRefused("consent has been revoked", reason="consent_revoked")
        raise ConsentRefused("consent has been used up", reason="consent_used_up")

    def close(self) -> None:
        """Release connections; later calls raise StoreUnavailable."""
        self._db.close()
