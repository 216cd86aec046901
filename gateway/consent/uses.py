"""Consent uses, submitted records and staged changes take effect only with their call's
allow entry.

A call that uses a consent records which request used it (the store's
``consent_uses`` row, in the transaction that counts the use). When the call's allow
entry commits, the row is settled (deleted) and the use stays spent; when the call
fails before that, the use is given back. A submission stores its records pending for
its request before the allow entry, and makes them active after it
(gateway.records.lifecycle). Any other change of stored state is staged for its request
before the allow entry and applied after it (gateway.records.changes).

What a crash or a fault leaves behind (a use with no outcome, records still pending,
changes still staged) is settled by :class:`OutcomeSweeper`, by whether the request has
an allow entry in the audit log. Every instance writes one shared log, so any instance
may sweep what any other left; the grace period keeps it off calls still in flight.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.errors import CredgateError, StoreUnavailable
from gateway.records.changes import StagedChange
from gateway.records.store import RecordStore

log = logging.getLogger("credgate.consent")

#: A use older than this has no call in flight any more (calls have shorter deadlines).
GRACE = timedelta(minutes=5)
#: How often the sweeper runs, in seconds.
SWEEP_EVERY = 60.0
#: Audit entries read per step of the backward scan.
_CHUNK = 1000


def instance_id(data_dir: Path) -> str:
    """This instance's stable name in the shared store (kept in its data folder)."""
    path = data_dir / "instance-id"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    name = f"gw-{uuid.uuid4().hex[:16]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="ascii") as out:  # a racing worker may create it first
            out.write(name + "\n")
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    return name


@dataclass
class SweepResult:
    """What one pass of the sweeper did."""

    uses_given_back: int = 0
    records_activated: int = 0
    records_dropped: int = 0
    records_kept: int = 0
    changes_applied: int = 0
    changes_dropped: int = 0
    changes_kept: int = 0


def allowed_requests(audit: AuditLog, request_ids: Collection[str], *,
                     since: datetime) -> set[str]:
    """The request ids among `request_ids` with an allow entry made at `since` or later."""
    wanted = set(request_ids)
    found: set[str] = set()
    end = audit.size()
    while end >= 1 and found != wanted:
        start = max(1, end - _CHUNK + 1)
        entries = audit.read(start=start, limit=end - start + 1)
        found.update(e.request_id for _, e in entries
                     if e.decision == "allow" and e.request_id in wanted)
        # Entry times follow seq but for threads racing to the log; a minute of slack.
        if entries and entries[0][1].time < since - timedelta(minutes=1):
            break
        end = start - 1
    return found


class OutcomeSweeper:
    """Settles what calls left without an outcome: consent uses, pending records and
    staged changes."""

    def __init__(self, store: RecordStore, audit: AuditLog, *, clock: Clock,
                 grace: timedelta = GRACE, every: float = SWEEP_EVERY) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._grace = grace
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> SweepResult:
        """One pass. Raises StoreUnavailable or AuditUnavailable (then nothing of the
        pass is lost: it runs again later)."""
        before = self._clock.now() - self._grace
        uses = self._store.unsettled_consent_uses(used_before=before)
        staged = self._store.pending_changes(pending_before=before)
        pending = self._store.pending_records(pending_before=before)
        if not uses and not pending and not staged:
            return SweepResult()
        owners = {p.record_id: p.requests() for p in pending}
        times = {request_id: at for request_id, _, at in uses} | {
            r: at for requests in owners.values() for r, at in requests.items()} | {
            s.request_id: s.staged_at for s in staged}
        allowed = allowed_requests(self._audit, times, since=min(times.values()))
        began = self._log_began()
        result = SweepResult()
        # Changes first: a change applied makes its correction live with it, and the
        # records step leaves corrections to their change.
        self._settle_changes(staged, allowed, began, result)
        for request_id, _consent_id, at in uses:
            # A use made before this log began (a rotated log) has its allow entry, if
            # any, in a closed log this sweeper does not read: it stays spent (fail
            # closed), never given back on the new log's silence.
            if request_id in allowed or (began is not None and at < began):
                self._store.settle_consent_use(request_id)
            elif self._store.give_back_consent_use(request_id):
                result.uses_given_back += 1
        live = [p.record_id for p in pending if allowed.intersection(owners[p.record_id])]
        result.records_activated = self._store.activate_pending(live)
        # Records every owner of which submitted before this log began are left pending
        # (never shown, never dropped): their allow entry, if any, is in a closed log.
        # The provider's retry of the same submission takes them up.
        unknown = [p for p in pending if not allowed.intersection(owners[p.record_id])]
        droppable = [p for p in unknown
                     if began is None or max(owners[p.record_id].values()) >= began]
        result.records_kept = len(unknown) - len(droppable)
        result.records_dropped = sum(self._store.drop_pending(p) for p in droppable)
        if result.uses_given_back or result.records_dropped:
            log.warning("gave back %d consent use(s) and dropped %d pending record(s) of "
                        "calls that had no allow entry", result.uses_given_back,
                        result.records_dropped)
        if result.records_kept:
            log.warning("%d pending record(s) were submitted before this audit log began "
                        "(a rotated log): kept pending until their provider submits them "
                        "again", result.records_kept)
        if result.records_activated:
            log.warning("activated %d pending record(s) whose allow entry had committed",
                        result.records_activated)
        return result

    def _settle_changes(self, staged: list[StagedChange], allowed: set[str],
                        began: datetime | None, result: SweepResult) -> None:
        """Apply the staged changes whose allow entry committed; drop the others, but
        those staged before this log began (their entry, if any, is in a closed log:
        they keep their target until an operator looks)."""
        for request_id in dict.fromkeys(s.request_id for s in staged if s.request_id in allowed):
            try:
                result.changes_applied += self._store.apply_changes(request_id)
            except StoreUnavailable:
                raise
            except CredgateError as exc:  # a change that cannot be made any more: say so
                log.error("a staged change with an allow entry could not be made: %s",
                          exc.reason or exc.status)
        for change in staged:
            if change.request_id in allowed:
                continue
            if began is not None and change.staged_at < began:
                result.changes_kept += 1
            elif self._store.drop_pending_change(change):
                result.changes_dropped += 1
        if result.changes_applied:
            log.warning("made %d staged change(s) whose allow entry had committed",
                        result.changes_applied)
        if result.changes_dropped:
            log.warning("dropped %d staged change(s) of calls that had no allow entry",
                        result.changes_dropped)
        if result.changes_kept:
            log.warning("%d staged change(s) were made before this audit log began (a "
                        "rotated log): kept until an operator settles them",
                        result.changes_kept)

    def _log_began(self) -> datetime | None:
        """The time of this log's first entry (None while it is empty)."""
        first = self._audit.read(start=1, limit=1)
        return first[0][1].time if first else None

    def start(self) -> None:
        """Sweep now and then every `every` seconds in a background thread."""
        self._thread = threading.Thread(target=self._run, name="outcome-sweeper",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except CredgateError as exc:
                log.warning("outcome sweep failed: %s", exc.reason or exc.status)
            except Exception as exc:  # the sweeper must outlive a bad pass
                log.error("outcome sweep failed: %s", type(exc).__name__)
            if self._stop.wait(self._every):
                return

    def close(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
