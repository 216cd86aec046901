"""Security officers approve what they can see: rollout, show, approve, versions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.support import POLICIES


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def proposed(folder: Path) -> Path:
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        extra = b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
        (folder / name).write_bytes(data + (extra if name == "policy.csv" else b""))
    return folder


def test_rollout_show_approve_versions(live_factory: Callable[..., LiveGateway],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    live = live_factory(policy_two_person=True)
    monkeypatch.chdir(tmp_path)
    proposed(tmp_path / "proposed")
    target = ["--target", live.target]
    # As the README writes it: the first officer needs no --party.
    assert main(["policy", "rollout", "proposed/", *target]) == 0
    out = capsys.readouterr().out
    [version_id] = re.findall(r"`credgate policy approve (\d+)`", out)
    assert "pending: ask a second security officer" in out
    # The second officer sees the change, the author, both hashes and the state.
    assert main(["policy", "show", version_id, "--party", "security_officer_b", *target]) == 0
    shown = capsys.readouterr().out
    [record] = [v for v in live.gw.rollout.versions(5) if str(v.id) == version_id]
    assert f"policy version {version_id}: pending" in shown
    assert "author   security_officer, proposed" in shown
    assert record.version in shown and record.bundle_hash in shown
    assert "hr_bureau" in shown and "identity.mobile" in shown and "gained" in shown
    assert main(["policy", "approve", version_id, *target]) == 0
    assert f"policy version {version_id}: active" in capsys.readouterr().out
    # Versions say who decided and when; JSON has null, not "-", where nothing is.
    assert main(["policy", "versions", *target]) == 0
    table = capsys.readouterr().out
    assert "decided by" in table and "security_officer_b" in table
    assert main(["policy", "versions", "--json", *target]) == 0
    newest = json.loads(capsys.readouterr().out)[0]
    assert (newest["approver"], newest["status"]) == ("security_officer_b", "active")
    assert newest["decided_at"] and newest["reason"] is None
    assert main(["policy", "show", "999", *target]) == 2
    assert "no policy version 999" in capsys.readouterr().err
