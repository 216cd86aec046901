"""Consent uses are spent only by calls that released something.

A call that uses a consent records which request used it (the store's
``consent_uses`` row, in the transaction that counts the use). When the call's allow
entry commits, the row is settled (deleted) and the use stays spent; when the call
fails before that, the use is given back. What a crash leaves behind (a row with no
outcome) is settled or given back by :class:`ConsentUseSweeper`, which looks for the
request's allow entry in the audit log.

Until every instance writes one shared audit log, each instance sweeps only the uses
it made itself (``used_by``): another instance's allow entries are not in its log.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.errors import CredgateError
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


class ConsentUseSweeper:
    """Settles or gives back the consent uses that calls left without an outcome."""

    def __init__(self, store: RecordStore, audit: AuditLog, *, instance: str, clock: Clock,
                 grace: timedelta = GRACE, every: float = SWEEP_EVERY) -> None:
        self._store = store
        self._audit = audit
        self._instance = instance
        self._clock = clock
        self._grace = grace
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """One pass; returns how many uses were given back. Raises StoreUnavailable or
        AuditUnavailable (then nothing of the pass is lost: it runs again later)."""
        left = self._store.unsettled_consent_uses(
            used_by=self._instance, used_before=self._clock.now() - self._grace)
        if not left:
            return 0
        since = min(at for _, _, at in left)
        allowed = allowed_requests(self._audit, [r for r, _, _ in left], since=since)
        given_back = 0
        for request_id, _consent_id, _at in left:
            if request_id in allowed:
                self._store.settle_consent_use(request_id)
            elif self._store.give_back_consent_use(request_id):
                given_back += 1
        if given_back:
            log.warning("gave back %d consent use(s) of calls that released nothing",
                        given_back)
        return given_back

    def start(self) -> None:
        """Sweep now and then every `every` seconds in a background thread."""
        self._thread = threading.Thread(target=self._run, name="consent-use-sweeper",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except CredgateError as exc:
                log.warning("consent use sweep failed: %s", exc.reason or exc.status)
            except Exception as exc:  # the sweeper must outlive a bad pass
                log.error("consent use sweep failed: %s", type(exc).__name__)
            if self._stop.wait(self._every):
                return

    def close(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
