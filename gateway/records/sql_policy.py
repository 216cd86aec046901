"""Policy versions, proposals and approvals in the shared store (gateway.policy.rollout).

A bundle's files are kept once per bundle hash; each proposal is a row of
``policy_versions``; the one row of ``policy_head`` names the version in force. The head
changes only under its row lock, in the transaction that records the change, and the
change is announced to the other instances (``NOTIFY`` on PostgreSQL; every instance
also polls the head each second, as notices are lost while a listener reconnects).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.records.sql_dialect import Database, Row, Sql

#: The notice channel of a policy change.
POLICY_CHANNEL = "credgate_policy"

ACTIVE, PENDING, REJECTED, SUPERSEDED = "active", "pending", "rejected", "superseded"

_VERSION_COLUMNS = ("id, version, bundle_hash, author, proposed_at, status, approver, "
                    "decided_at, reason, diff, comment")

# Version ids are SQL integers (64-bit, signed): none is this large.
_MAX_ID = 2**63


@dataclass(frozen=True)
class PolicyVersionRecord:
    """A proposed version as kept: who, when, what it changes, what became of it."""

    id: int
    version: str
    bundle_hash: str
    author: str
    proposed_at: str
    status: str
    approver: str
    decided_at: str
    reason: str
    diff: Mapping[str, object]
    comment: str = ""  # the deciding officer's comment


def _version(row: Row) -> PolicyVersionRecord:
    return PolicyVersionRecord(
        id=int(row[0]), version=row[1], bundle_hash=row[2], author=row[3],
        proposed_at=row[4], status=row[5], approver=row[6], decided_at=row[7],
        reason=row[8], diff=json.loads(row[9]), comment=row[10])


def _stale() -> FailedPrecondition:
    return FailedPrecondition("another policy went live since this proposal; "
                              "propose it again to see its current effect",
                              reason="stale_proposal")


class SqlPolicy:
    """Policy versions of the store (mixin of SqlStore)."""

    _db: Database

    def put_policy_bundle(self, bundle_hash: str, files: Mapping[str, bytes]) -> None:
        """Keep a bundle's files under its hash (kept once; the hash names the content)."""
        text = json.dumps({name: base64.b64encode(data).decode("ascii")
                           for name, data in sorted(files.items())}, separators=(",", ":"))
        self._db.write(lambda sql: sql.run(
            "INSERT INTO policy_bundles (bundle_hash, files) VALUES (?, ?) "
            "ON CONFLICT (bundle_hash) DO NOTHING", (bundle_hash, text)))

    def policy_bundle(self, bundle_hash: str) -> dict[str, bytes] | None:
        """A kept bundle's files, or None."""
        row = self._db.read(lambda sql: sql.one(
            "SELECT files FROM policy_bundles WHERE bundle_hash = ?", (bundle_hash,)))
        if row is None:
            return None
        return {name: base64.b64decode(data) for name, data in json.loads(row[0]).items()}

    def policy_head(self) -> tuple[int, str]:
        """(version id, bundle hash) of the version in force; (0, "") before any rollout."""
        row = self._db.read(lambda sql: sql.one(
            "SELECT version_id, bundle_hash FROM policy_head WHERE one = 1"))
        return (int(row[0]), row[1]) if row else (0, "")

    def add_policy_version(self, *, version: str, bundle_hash: str, author: str,
                           proposed_at: str, status: str, over_bundle: str, approver: str = "",
                           decided_at: str = "", reason: str = "",
                           diff: Mapping[str, object] | None = None) -> PolicyVersionRecord:
        """Record a proposal; an active one takes the head in the same transaction.

        `over_bundle` is the bundle the proposal was diffed against: an active proposal
        is refused (FailedPrecondition, stale_proposal) when another went live since.
        """
        return self._db.write(lambda sql: self._add_version(
            sql, version=version, bundle_hash=bundle_hash, author=author,
            proposed_at=proposed_at, status=status, over_bundle=over_bundle,
            approver=approver, decided_at=decided_at, reason=reason, diff=diff or {}))

    def _add_version(self, sql: Sql, *, version: str, bundle_hash: str, author: str,
                     proposed_at: str, status: str, over_bundle: str, approver: str,
                     decided_at: str, reason: str, diff: Mapping[str, object]
                     ) -> PolicyVersionRecord:
        head = self._lock_head(sql)
        if status == ACTIVE and head and head != over_bundle:
            raise _stale()
        # The next id under the head's lock (not a sequence's, which a rolled-back
        # transaction spends): a staged proposal gets the id its entry names.
        last = sql.one("SELECT max(id) FROM policy_versions")
        row = sql.one(
            "INSERT INTO policy_versions (id, version, bundle_hash, author, proposed_at, "
            "status, approver, decided_at, reason, diff) VALUES (?,?,?,?,?,?,?,?,?,?) "
            f"RETURNING {_VERSION_COLUMNS}",
            (int(last[0] or 0) + 1 if last else 1, version, bundle_hash, author,
             proposed_at, status, approver, decided_at, reason,
             json.dumps(diff, ensure_ascii=False, sort_keys=True)))
        assert row is not None
        record = _version(row)
        if status == ACTIVE:
            self._take_head(sql, record, decided_at)
        return record

    def activate_policy_version(self, version_id: int, *, approver: str, at: str,
                                over_bundle: str, comment: str = "") -> PolicyVersionRecord:
        """Make a pending version the one in force (the second person's approval).

        Raises InvalidArgument (no such version) or FailedPrecondition (not pending, or
        another policy went live since it was proposed over `over_bundle`).
        """

        return self._db.write(lambda sql: self._activate_version(
            sql, version_id, approver, at, over_bundle, comment))

    def _activate_version(self, sql: Sql, version_id: int, approver: str, at: str,
                          over_bundle: str, comment: str) -> PolicyVersionRecord:
        head = self._lock_head(sql)
        self._lock_pending(sql, version_id)
        if head and head != over_bundle:
            raise _stale()
        row = sql.one("UPDATE policy_versions SET status = ?, approver = ?, decided_at = ?, "
                      f"comment = ? WHERE id = ? RETURNING {_VERSION_COLUMNS}",
                      (ACTIVE, approver, at, comment, version_id))
        assert row is not None
        record = _version(row)
        self._take_head(sql, record, at)
        return record

    def reject_policy_version(self, version_id: int, *, at: str, reason: str,
                              comment: str) -> PolicyVersionRecord:
        """Turn a pending version down; raises InvalidArgument or FailedPrecondition."""

        return self._db.write(lambda sql: self._reject_version(sql, version_id, at, reason,
                                                               comment))

    def _reject_version(self, sql: Sql, version_id: int, at: str, reason: str,
                        comment: str) -> PolicyVersionRecord:
        self._lock_pending(sql, version_id)
        row = sql.one("UPDATE policy_versions SET status = ?, decided_at = ?, reason = ?, "
                      f"comment = ? WHERE id = ? RETURNING {_VERSION_COLUMNS}",
                      (REJECTED, at, reason, comment, version_id))
        assert row is not None
        return _version(row)

    def policy_versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        """The newest versions first."""
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT {_VERSION_COLUMNS} FROM policy_versions ORDER BY id DESC LIMIT ?",
            (limit,)))
        return [_version(r) for r in rows]

    def policy_version(self, version_id: int) -> PolicyVersionRecord | None:
        """One version, or None."""
        if not 0 < version_id < _MAX_ID:
            return None  # no such version: a caller's uint64 may lie beyond SQL's integers
        row = self._db.read(lambda sql: sql.one(
            f"SELECT {_VERSION_COLUMNS} FROM policy_versions WHERE id = ?", (version_id,)))
        return _version(row) if row else None

    def wait_for_policy_change(self, timeout: float, stop: threading.Event) -> None:
        """Return when a policy change is announced, `stop` is set, or after `timeout`."""
        self._db.wait_for_notice(POLICY_CHANNEL, timeout, stop)

    # -- internals ---------------------------------------------------------------------

    def _lock_head(self, sql: Sql) -> str:
        """Lock the head row for this transaction; the bundle hash in force ("" if none)."""
        row = sql.one(f"SELECT bundle_hash FROM policy_head WHERE one = 1{self._db.for_update}")
        return row[0] if row else ""

    def _lock_pending(self, sql: Sql, version_id: int) -> None:
        """Lock a version that must be pending; raises InvalidArgument or FailedPrecondition."""
        found = (sql.one(f"SELECT status FROM policy_versions WHERE id = ?{self._db.for_update}",
                         (version_id,)) if 0 < version_id < _MAX_ID else None)
        if found is None:
            # The id is the caller's number: not quoted (it may be any 19 digits).
            raise InvalidArgument("no policy version with this id", reason="unknown_version")
        if found[0] != PENDING:
            raise FailedPrecondition(f"version {version_id} is {found[0]}, not pending")

    def _take_head(self, sql: Sql, record: PolicyVersionRecord, at: str) -> None:
        sql.run("UPDATE policy_versions SET status = ? WHERE status = ? AND id <> ?",
                (SUPERSEDED, ACTIVE, record.id))
        sql.run("UPDATE policy_head SET version_id = ?, bundle_hash = ?, changed_at = ? "
                "WHERE one = 1", (record.id, record.bundle_hash, at))
        self._db.notify(sql, POLICY_CHANNEL)
