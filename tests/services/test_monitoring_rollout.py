"""monitoring.toml is rolled out like every policy file: a change goes live through a
proposal (a second officer outside development), the running monitor takes it at once,
and a change to a live monitoring stream is never one officer's alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.api import pb
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.support import POLICIES

pytestmark = pytest.mark.e2e


def edited(name: str, old: str, new: str) -> dict[str, bytes]:
    files = read_bundle(POLICIES)
    text = files[name].decode()
    assert old in text
    return {**files, name: text.replace(old, new, 1).encode()}


def test_a_rule_change_needs_a_second_officer_and_then_runs(
        live_factory: Callable[..., LiveGateway]) -> None:
    live = live_factory(development=False)
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    pending = officer.propose_policy(edited("monitoring.toml", "factor = 5.0", "factor = 4.0"))
    assert pending.status == "pending"
    assert "monitoring rule volume_spike: factor 5.0 -> 4.0" in pending.diff_json
    rule = live.gw.state.monitoring.get("volume_spike")
    assert rule is not None and rule.factor == 5.0
    approved = second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=pending.id),
                                                 timeout=30)
    assert approved.status == "active"
    rule = live.gw.state.monitoring.get("volume_spike")
    assert rule is not None and rule.factor == 4.0
    assert live.gw.monitor is not None
    live.gw.monitor.step()  # the running monitor takes the new rules


def test_a_broken_rule_file_never_goes_live(live_factory: Callable[..., LiveGateway]) -> None:
    live = live_factory()
    version = live.client("security_officer").propose_policy(
        edited("monitoring.toml", "min_calls = 50", "min_cals = 50"))
    assert version.status == "rejected" and "min_cals" in version.reason


def test_weakening_a_live_stream_needs_a_second_officer(
        live_factory: Callable[..., LiveGateway]) -> None:
    """Even in development (two-person rule off), the live streams are not one officer's."""
    live = live_factory()
    before = live.gw.state.version
    version = live.client("security_officer").propose_policy(edited(
        "tests/monitoring_rules.toml",
        'name = "a blacklisted agency calls"', 'name = "a blacklisted agency calls (old)"'))
    assert version.status == "pending", version.reason
    assert "a blacklisted agency calls" in version.diff_json
    assert live.gw.state.version == before
