"""The monitor: tails the shared audit log and logs the alerts its rules raise.

Every gateway process runs one, but only the holder of the lease in `MonitorStore`
evaluates: each entry is evaluated by one process of the platform at a time, from the
position saved with the rules' state. A process that crashes mid-batch leaves its last
saved position; its successor (after the lease runs out) evaluates the rest of the
batch again and finds the same alert ids, whose claims keep them from being logged
twice. A claim whose holder died between claim and append is taken over after two
lease lengths, once the log is searched for the alert's entry.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.audit.entry import MalformedAuditEntry
from gateway.audit.shared import SharedAuditLog
from gateway.catalogue.registry import Catalogue
from gateway.clock import Clock
from gateway.errors import CredgateError
from gateway.monitoring.alerts import MARKER, alert_entry
from gateway.monitoring.cursor import MonitorStore
from gateway.monitoring.engine import Alert, MonitorContext, RuleEngine
from gateway.monitoring.rules import MonitoringRules

log = logging.getLogger("credgate.monitor")
MONITOR_DB = "monitor.db"
BATCH = 1000
#: Batches evaluated between two saves of the position and state during a catch-up.
SAVE_EVERY = 10



class LeaseLost(Exception):
    """This process stopped holding the monitor's lease in the middle of a step."""

class Observation:
    """The fields of a logged entry the rules read, decoded without re-checking the
    canonical form (the entry is the log's own, and the log is verified on its own)."""

    __slots__ = ("action", "decision", "purpose", "reason", "requester", "subject_index",
                 "time")

    def __init__(self, obj: dict[str, object]) -> None:
        self.action, self.decision = str(obj["action"]), str(obj["decision"])
        self.purpose, self.reason = str(obj["purpose"]), str(obj["reason"])
        self.requester, self.subject_index = str(obj["requester"]), str(obj["subject_index"])
        self.time = datetime.fromisoformat(str(obj["time"])[:-1]).replace(tzinfo=UTC)


def observe(data: bytes) -> Observation:
    """What the rules read of one canonical entry; raises MalformedAuditEntry."""
    try:
        return Observation(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedAuditEntry("a logged entry the monitor cannot read",
                                  reason="monitor_bad_entry",
                                  detail=type(exc).__name__) from None


class MonitorRunner:
    """Evaluates the log while it holds the lease; `step` is one pass, `start` a thread."""

    def __init__(self, *, audit: SharedAuditLog, store: MonitorStore, clock: Clock,
                 rules: Callable[[], tuple[MonitoringRules, Catalogue]], holder: str,
                 interval: float = 0.5, lease_seconds: float = 10.0,
                 on_alert: Callable[[Alert], None] | None = None) -> None:
        self._audit, self._store, self._clock = audit, store, clock
        self._rules = rules
        self.holder = holder
        self._interval, self._lease = interval, lease_seconds
        self._on_alert = on_alert
        self._engine: RuleEngine | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.alerts_logged = 0

    @property
    def store(self) -> MonitorStore:
        """The monitor's lease, position and alert claims."""
        return self._store

    def step(self) -> int:
        """Evaluate what was logged since the position, if this process holds the lease.

        Returns how many entries were evaluated; raises AuditUnavailable when the log
        or the monitor's tables cannot be reached.
        """
        with self._lock:
            now = time.time()
            if not self._store.take_lease(self.holder, now=now, seconds=self._lease):
                self._engine = None  # someone else evaluates; re-read its state later
                return 0
            engine = self._current_engine()
            done = batches = 0
            while not self._stop.is_set():
                rows = self._audit.read_raw(start=engine.position + 1, limit=BATCH)
                try:
                    for seq, data in rows:
                        if MARKER in data:  # the monitor's own entries are never evaluated
                            engine.position = seq
                            continue
                        for alert in engine.feed(seq, observe(data)):
                            self._log(alert, engine.rules.version)
                except LeaseLost:
                    self._engine = None  # unsaved: the next holder evaluates it again
                    return done
                done += len(rows)
                batches += 1
                caught_up = len(rows) < BATCH
                # The state is saved when caught up and every few batches of a long
                # catch-up (it renews the lease too); what a crash loses in between is
                # evaluated again, and the claims keep its alerts from a second entry.
                if (caught_up or batches % SAVE_EVERY == 0) and not self._store.save(
                        self.holder, position=engine.position,
                        state=json.dumps(engine.state()), now=time.time(),
                        seconds=self._lease):
                    self._engine = None  # the lease was lost: the successor carries on
                    break
                if caught_up:
                    break
            return done

    def _current_engine(self) -> RuleEngine:
        """The engine for the rules in force, from the saved state when (re)starting."""
        rules, catalogue = self._rules()
        engine = self._engine
        if engine is not None and engine.rules is rules:
            return engine
        fresh = RuleEngine(rules, MonitorContext.from_catalogue(catalogue))
        if engine is not None:
            fresh.restore(engine.state())  # a rollout: keep what the rules remember
        else:
            position, state = self._store.load()
            fresh.restore(json.loads(state) if state else {"position": position})
        self._engine = fresh
        return fresh

    def _log(self, alert: Alert, version: str) -> None:
        """Append the alert's entry if this process wins its claim (or takes a dead one)."""
        now = time.time()
        store, alert_id = self._store, alert.alert_id
        if not store.claim(alert_id, self.holder, now=now):
            if not self._take_over(alert_id):
                return  # logged already
            found = self._find(alert_id, after=max(alert.trigger_seqs, default=0))
            if found is not None:
                store.logged(alert_id, found)
                return
        seq = self._audit.append(alert_entry(alert, now=self._clock.now(), version=version))
        store.logged(alert_id, seq)
        self.alerts_logged += 1
        log.warning("alert %s: rule %s (%s), entries %s", alert_id, alert.rule,
                    alert.severity, ",".join(map(str, alert.trigger_seqs)))
        if self._on_alert is not None:
            self._on_alert(alert)

    def _take_over(self, alert_id: str) -> bool:
        """Another process claimed the alert: False once it is logged, True when this one
        took the claim over (its holder died before logging it).

        Waits while the claim is younger than two lease lengths, renewing this process's
        lease: the successor of a crashed holder meets its claims within one lease
        length, and skipping them then would lose the alert for good (the position moves
        past its entries). Raises LeaseLost when the lease cannot be kept meanwhile.
        """
        store = self._store
        while True:
            now = time.time()
            if store.alert(alert_id)[1] is not None:
                return False
            if store.take_over(alert_id, self.holder, now=now,
                               older_than=now - 2 * self._lease):
                return True
            if not store.take_lease(self.holder, now=now, seconds=self._lease):
                raise LeaseLost()
            if self._stop.wait(min(0.05, self._lease / 10)):
                raise LeaseLost()

    def _find(self, alert_id: str, *, after: int) -> int | None:
        """The seq of an alert's entry logged after a seq, if any."""
        needle = f'"request_id":"{alert_id}"'.encode()
        start = after + 1
        while rows := self._audit.read_raw(start=start, limit=BATCH):
            for seq, data in rows:
                if MARKER in data and needle in data:
                    return seq
            start = rows[-1][0] + 1
        return None

    def start(self) -> None:
        """Run `step` every `interval` seconds in a daemon thread."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="monitor")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.step()
            except CredgateError as err:
                log.warning("monitor pass failed: %s", err.reason or err.status)
            except Exception:
                log.exception("monitor pass failed")

    def close(self) -> None:
        """Stop the thread, give the lease up and close the store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self._lock:
                self._store.release(self.holder)
        except CredgateError:
            pass  # the lease runs out by itself
        self._store.close()


def holder_name(instance: str) -> str:
    """This process's name as a lease holder: the instance and the process id."""
    return f"{instance}:{os.getpid()}"


def monitor_db(data_dir: Path) -> Path:
    """The SQLite file of the monitor's position in a data directory."""
    return data_dir / MONITOR_DB
