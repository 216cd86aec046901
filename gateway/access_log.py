"""The access log: one line per call for operators (method, party, purpose, decision,
status, duration, trace id). It never holds personal data: the party is a catalogue
party, the purpose only a catalogue code, nothing the caller wrote is quoted.

Lines go to the logger ``credgate.access`` at INFO; `credgate serve` shows them on
stderr unless --no-access-log.
"""

from __future__ import annotations

import logging

log = logging.getLogger("credgate.access")


def record_access(*, method: str, party: str, purpose: str, decision: str, status: str,
                  duration_s: float, trace_id: str) -> None:
    """Write one access line (the caller has already checked party and purpose)."""
    if log.isEnabledFor(logging.INFO):
        log.info("access method=%s party=%s purpose=%s decision=%s status=%s "
                 "duration_ms=%.1f trace=%s", method, party or "-", purpose or "-",
                 decision, status, duration_s * 1000, trace_id)
