"""Is this instance fit to serve? The audit log and the store must both answer.

A load balancer (gRPC health checking) should stop sending calls to an instance whose
database it cannot reach: every such call would end UNAVAILABLE anyway. ``HealthWatch``
probes both once a second and reports a change; it turns healthy again on its own when
the database comes back. It knows nothing of gRPC: the server passes a callback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from gateway.errors import CredgateError

log = logging.getLogger("credgate.health")

#: What a probe calls; each raises a CredgateError (or any error) when unreachable.
Probe = Callable[[], None]


def store_probe(store: Any) -> Probe:
    """A cheap read of the record store (its ping if it has one)."""
    ping = getattr(store, "ping", None)
    if callable(ping):
        return ping

    def read() -> None:
        store.get_consent("health-probe")

    return read


class HealthWatch:
    """Runs the probes every ``interval`` seconds and calls ``report(healthy)`` on a change."""

    def __init__(self, probes: dict[str, Probe], report: Callable[[bool], None], *,
                 interval: float = 1.0) -> None:
        self._probes, self._report, self._interval = probes, report, interval
        self._stop = threading.Event()
        self._healthy: bool | None = None
        self._thread = threading.Thread(target=self._run, name="credgate-health", daemon=True)

    @property
    def healthy(self) -> bool | None:
        """The last verdict (None before the first probe)."""
        return self._healthy

    def start(self) -> None:
        """Probe now, then in the background."""
        self.check()
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (a probe under way finishes on its own; the thread is a daemon)."""
        self._stop.set()

    def check(self) -> bool:
        """Run every probe once; report and return the verdict."""
        failed = []
        for name, probe in self._probes.items():
            try:
                probe()
            except Exception as exc:  # any failure means not fit to serve
                reason = exc.message if isinstance(exc, CredgateError) else type(exc).__name__
                failed.append(f"{name}: {reason}")
        healthy = not failed
        if healthy != self._healthy:
            if healthy:
                log.warning("health: SERVING (audit log and store reachable)")
            else:
                log.warning("health: NOT_SERVING (%s)", "; ".join(failed))
            self._healthy = healthy
            self._report(healthy)
        return healthy

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()
