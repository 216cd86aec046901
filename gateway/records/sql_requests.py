"""Request state every instance shares through the store: replay memory, consent uses.

A signed request is served once across all the instances on one database: after its
signature verifies, its digest is inserted with ``ON CONFLICT DO NOTHING``, and a digest
that is there already is a replay (gateway.identify.request_signing). Rows are pruned once they
are older than twice the signature window, since a request that old is refused as
stale before its digest is looked at.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from gateway.records.sql_dialect import Database, Sql

#: How often (seconds) an instance prunes the replay memory, at most.
PRUNE_EVERY = 10.0


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


class SqlRequests:
    """Replay memory of the RecordStore contract (mixin of SqlStore)."""

    _db: Database
    _pruned_at = float("-inf")
    _prune_lock = threading.Lock()

    def remember_request(self, digest: str, *, at: datetime, forget_before: datetime) -> bool:
        """Remember a verified request's digest; False when it is remembered already.

        Rows seen before `forget_before` are pruned now and then. Raises
        StoreUnavailable, so a replay is never served because the memory was down.
        """
        prune = self._due_for_pruning()

        def work(sql: Sql) -> bool:
            if prune:
                sql.run("DELETE FROM request_digests WHERE seen_at < ?",
                        (_seconds(forget_before),))
            return sql.one("INSERT INTO request_digests (digest, seen_at) VALUES (?, ?) "
                           "ON CONFLICT (digest) DO NOTHING RETURNING digest",
                           (digest, _seconds(at))) is not None

        # Not durable: after a crash the memory is re-seeded from the audit log, where
        # every served request's signature (and so its digest) is kept.
        return self._db.write(work, durable=False, records=False)

    def remember_requests(self, seen: Sequence[tuple[str, datetime]]) -> None:
        """Re-seed the memory with digests read back from the audit log (after a restart
        or a restore of the database); digests remembered already are kept as they are."""
        if not seen:
            return
        rows = [(digest, _seconds(at)) for digest, at in seen]
        self._db.write(lambda sql: sql.each_returning(
            "INSERT INTO request_digests (digest, seen_at) VALUES (?, ?) "
            "ON CONFLICT (digest) DO NOTHING RETURNING digest", rows), durable=False,
            records=False)

    # -- consent uses by request (gateway.consent.uses) ---------------------------------

    def give_back_consent_use(self, request_id: str) -> bool:
        """Give back the consent use a request made (its call released nothing); False
        when it has none outstanding (never used, settled, or given back already)."""

        def work(sql: Sql) -> bool:
            row = sql.one("DELETE FROM consent_uses WHERE request_id = ? RETURNING consent_id",
                          (request_id,))
            if row is None:
                return False
            sql.run("UPDATE consents SET uses = uses - 1 WHERE consent_id = ? AND uses > 0",
                    (row[0],))
            return True

        return self._db.write(work, records=False)

    def settle_consent_use(self, request_id: str) -> None:
        """The request's allow entry committed: its consent use stays spent."""
        self.settle_consent_uses([request_id])

    def settle_consent_uses(self, request_ids: Sequence[str]) -> None:
        """Several requests' allow entries committed: their uses stay spent."""
        if not request_ids:
            return
        # Not durable: if the commit is lost in a crash, the sweeper finds the allow
        # entries in the audit log and settles the uses again.
        self._db.write(lambda sql: sql.run(
            "DELETE FROM consent_uses WHERE request_id IN "
            f"({', '.join('?' * len(request_ids))})", tuple(request_ids)),
            durable=False, records=False)

    def unsettled_consent_uses(self, *, used_before: datetime, used_by: str | None = None,
                               limit: int = 1000) -> list[tuple[str, str, datetime]]:
        """(request id, consent id, time) of uses made before a time (by one instance,
        or any) that are neither settled nor given back, oldest first."""
        by = "" if used_by is None else "AND used_by = ? "
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT request_id, consent_id, used_at FROM consent_uses WHERE used_at < ? {by}"
            "ORDER BY used_at, request_id LIMIT ?",
            (_seconds(used_before), *(() if used_by is None else (used_by,)), limit)))
        return [(r[0], r[1], datetime.fromtimestamp(int(r[2]), UTC)) for r in rows]

    def _due_for_pruning(self) -> bool:
        now = time.monotonic()
        with self._prune_lock:
            if now - self._pruned_at < PRUNE_EVERY:
                return False
            self._pruned_at = now
            return True
