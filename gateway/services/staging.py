"""A call's staged change after its allow entry, or after its failure (for servicers and
the SIGHUP reload alike; what staging is: gateway.records.changes)."""

from __future__ import annotations

import logging

from gateway.app import Gateway
from gateway.errors import AuditUnavailable, CredgateError

log = logging.getLogger("credgate.services")


def make_staged(gw: Gateway, request_id: str, trace_id: str = "") -> None:
    """The request's allow entry committed: what it staged is made now.

    The change is decided and durable at this point, so a fault here does not fail the
    call (that would log a deny after the allow): the sweeper makes it from the allow
    entry (gateway.consent.uses.OutcomeSweeper).
    """
    try:
        gw.store.apply_changes(request_id)
    except CredgateError as err:
        log.warning("a staged change waits for the sweeper: %s [trace %s]",
                    err.reason or err.status, trace_id)


def drop_staged(gw: Gateway, request_id: str, error: BaseException,
                trace_id: str = "") -> None:
    """The request failed before its allow entry: what it staged is dropped, unless the
    audit failed at that entry (whether it was written is not known here: the sweeper
    decides from the log). If the drop fails too, the sweeper drops it."""
    if isinstance(error, AuditUnavailable):
        return
    try:
        gw.store.drop_changes(request_id)
    except CredgateError as err:
        log.warning("staged change not dropped yet: %s [trace %s]",
                    err.reason or err.status, trace_id)
