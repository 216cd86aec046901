"""Quota counters every instance shares through the store (gateway.policy.quotas).

Two kinds of row, both keyed by a bucket name that says whose counter it is
(``rule|party|purpose|kind|window``, never a person):

- ``quota_counters``: calls or distinct subjects granted in one window (a clock minute,
  a city day). An instance leases a block of the window's allowance in one transaction
  (``lease_quota``) and spends it locally; no instance is ever granted more than the
  limit leaves, so the instances together never serve more than the limit.
- ``quota_buckets``: the token bucket of a burst allowance, in thousandths of a token,
  refilled by elapsed time at each lease.

Rows of ended windows are pruned now and then; unused leases are given back when an
instance stops (``give_back_quota``).
"""

from __future__ import annotations

import threading
import time

from gateway.records.sql_dialect import Database, Sql

#: How often (seconds) an instance prunes ended windows, at most.
PRUNE_EVERY = 60.0
#: A burst bucket untouched this long (milliseconds) is full again whatever it held.
_BUCKET_IDLE_MS = 86_400_000


def share_of_remaining(remaining: int, want: int) -> int:
    """How much of what remains one lease takes: at most `want`, and at most half of what
    remains (at least one), so the last calls of a window spread over the instances."""
    return max(0, min(want, remaining, max(1, (remaining + 1) // 2)))


def take_tokens(held: int, at: int, *, now_ms: int, capacity: int, per_minute: int,
                want: int) -> tuple[int, int, int]:
    """A burst bucket that held `held` thousandths of a token at `at` (ms), refilled to
    `now_ms` and then drawn: (tokens granted, thousandths left, ms until the next token
    when none was granted)."""
    # per_minute tokens a minute are per_minute thousandths of a token every 60 ms.
    milli = min(capacity * 1000, held + max(0, now_ms - at) * per_minute // 60)
    granted = min(want, milli // 1000)
    milli -= granted * 1000
    wait = 0 if granted else -(-(1000 - milli) * 60 // per_minute)
    return granted, milli, wait


class SqlQuotas:
    """Quota counters of the RecordStore contract (mixin of SqlStore)."""

    _db: Database
    _quota_pruned_at = float("-inf")
    _quota_prune_lock = threading.Lock()

    def lease_quota(self, bucket: str, *, limit: int, want: int, expires_at: int,
                    now: int) -> int:
        """Take up to `want` of a window's allowance of `limit`; the amount granted (0 when
        the window's allowance is spent). `expires_at` is when the window ends and `now`
        the gateway clock's time (Unix seconds; windows that ended are pruned by it).
        Raises StoreUnavailable, so a limit is never passed while the store is down."""
        prune = self._quota_due_for_pruning()

        def work(sql: Sql) -> int:
            if prune:
                sql.run("DELETE FROM quota_counters WHERE expires_at < ?", (now,))
            sql.run("INSERT INTO quota_counters (bucket, used, expires_at) VALUES (?, 0, ?) "
                    "ON CONFLICT (bucket) DO NOTHING", (bucket, expires_at))
            row = sql.one("SELECT used FROM quota_counters WHERE bucket = ?"
                          + self._db.for_update, (bucket,))
            used = int(row[0]) if row else limit
            granted = share_of_remaining(limit - used, want)
            if granted:
                sql.run("UPDATE quota_counters SET used = used + ? WHERE bucket = ?",
                        (granted, bucket))
            return granted

        return self._db.write(work, records=False)

    def give_back_quota(self, bucket: str, amount: int) -> None:
        """Return an unused lease to its window (an instance stopping)."""
        if amount <= 0:
            return
        self._db.write(lambda sql: sql.run(
            "UPDATE quota_counters SET used = used - ? WHERE bucket = ? AND used >= ?",
            (amount, bucket, amount)), records=False)

    def lease_burst(self, bucket: str, *, capacity: int, per_minute: int, want: int,
                    now_ms: int) -> tuple[int, int]:
        """Take up to `want` tokens from a burst bucket of `capacity` that refills at
        `per_minute` tokens a minute: (tokens granted, milliseconds until the next token
        when none was). Raises StoreUnavailable."""
        prune = self._quota_due_for_pruning()

        def work(sql: Sql) -> tuple[int, int]:
            if prune:
                sql.run("DELETE FROM quota_buckets WHERE at_ms < ?",
                        (now_ms - _BUCKET_IDLE_MS,))
            full = capacity * 1000
            sql.run("INSERT INTO quota_buckets (bucket, milli_tokens, at_ms) VALUES (?, ?, ?) "
                    "ON CONFLICT (bucket) DO NOTHING", (bucket, full, now_ms))
            row = sql.one("SELECT milli_tokens, at_ms FROM quota_buckets WHERE bucket = ?"
                          + self._db.for_update, (bucket,))
            held, at = (int(row[0]), int(row[1])) if row else (0, now_ms)
            granted, milli, wait = take_tokens(held, at, now_ms=now_ms, capacity=capacity,
                                               per_minute=per_minute, want=want)
            sql.run("UPDATE quota_buckets SET milli_tokens = ?, at_ms = ? WHERE bucket = ?",
                    (milli, max(at, now_ms), bucket))
            return granted, wait

        return self._db.write(work, records=False)

    def _quota_due_for_pruning(self) -> bool:
        now = time.monotonic()
        with self._quota_prune_lock:
            if now - self._quota_pruned_at < PRUNE_EVERY:
                return False
            self._quota_pruned_at = now
            return True
