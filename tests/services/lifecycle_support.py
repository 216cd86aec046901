"""Helpers for the record-lifecycle end-to-end tests (objections, repair, checks, blacklist)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest

from gateway.api import pb
from tests.live_gateway import LiveGateway
from tests.support import ADULT


def self_consent(live: LiveGateway, subject: str = ADULT, *, days: int = 4000,
                 uses: int = 1000) -> str:
    """A self_query consent of the person for the citizen portal, valid for years."""
    now = live.gw.clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=subject, grantee="citizen_portal", purpose="self_query",
        categories=list(live.gw.catalogue.categories), not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=days), max_uses=uses)


def own_records(live: LiveGateway, consent: str, subject: str = ADULT,
                category: str | None = None) -> list[pb.ReleasedRecord]:
    """What the person sees of their own records through the portal."""
    reply = live.client("citizen_portal").query_subject(subject, "self_query",
                                                        consent_id=consent)
    return [r for r in reply.records if category is None or r.category == category]


def field(record: pb.ReleasedRecord, name: str) -> str:
    """One released field's value."""
    return next(f.value for f in record.fields if f.name == name)


def refused(call: Callable[[], Any], code: grpc.StatusCode, text: str = "") -> grpc.RpcError:
    """Assert the call is refused with this status (and text); never echoing an ID number."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    assert err.code() == code, (err.code(), err.details())
    assert text in (err.details() or ""), err.details()
    assert ADULT not in (err.details() or "")
    return err


def audit_entries(live: LiveGateway, action: str) -> list[Any]:
    """Every audit entry of one action, oldest first."""
    return [e for _, e in live.gw.audit.read(start=1, limit=10_000) if e.action == action]
