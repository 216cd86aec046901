"""The README's commands are real: every one parses, and the security officers' rollout
and versions examples run exactly as written against a live gateway."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import build_parser, main
from gateway.clock import FixedClock
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.support import POLICIES, REPO


def readme_commands() -> list[str]:
    """Each `credgate ...` line of the README's code blocks, continuation lines joined."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    out, current = [], ""
    for line in lines:
        if not line.startswith("    ") or not (current or line.strip().startswith("credgate ")):
            current = ""
            continue
        text = re.split(r"\s{2,}#", line.strip())[0]  # a trailing comment
        current += " " + text.rstrip("\\").strip()
        if not text.endswith("\\"):
            if "[" not in current:  # a synopsis ("[--party P]"), not a command to run
                out.append(current.strip())
            current = ""
    return out


def argv_of(command: str) -> list[str]:
    """The arguments of a README command, without shell redirections and pipes."""
    command = re.split(r"\s[<|]\s", command)[0]
    return shlex.split(command)[1:]


def test_the_readme_has_commands_for_every_role() -> None:
    groups = {argv_of(c)[0] for c in readme_commands()}
    assert {"serve", "submit", "query", "consent", "access-report", "objection", "repair",
            "record", "check", "policy", "blacklist", "audit", "disclosure", "report",
            "keys"} <= groups


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command: str) -> None:
    args = build_parser().parse_args(argv_of(command))
    assert getattr(args, "handler", None) is not None, command


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def test_the_security_officers_rollout_runs_as_written(
        live_factory: Callable[..., LiveGateway], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    live = live_factory(policy_two_person=True)
    monkeypatch.chdir(tmp_path)
    for name, data in read_bundle(POLICIES).items():
        (tmp_path / "proposed" / name).parent.mkdir(parents=True, exist_ok=True)
        extra = b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
        (tmp_path / "proposed" / name).write_bytes(
            data + (extra if name == "policy.csv" else b""))
    wanted = ("policy rollout", "policy show", "policy approve", "policy versions")
    steps = [c for c in readme_commands() if any(c.startswith(f"credgate {w}") for w in wanted)]
    assert [s.split()[2] for s in steps] == ["rollout", "show", "approve", "versions"]
    shown = {}
    for step in steps:
        assert main([*argv_of(step), "--target", live.target]) == 0, (
            step, capsys.readouterr().err)
        shown[step.split()[2]] = capsys.readouterr().out
    [version] = [v for v in live.gw.rollout.versions(5) if v.id == 1]
    assert (version.status, version.author, version.approver) == (
        "active", "security_officer", "security_officer_b")
    # The author is told what the second officer runs, with the README's version id.
    assert "pending: ask a second security officer" in shown["rollout"]
    assert "`credgate policy approve 1`" in shown["rollout"]
    # The second officer saw the change, the author, both hashes and the state.
    assert "policy version 1: pending" in shown["show"]
    assert "author   security_officer, proposed" in shown["show"]
    assert version.version in shown["show"] and version.bundle_hash in shown["show"]
    assert all(w in shown["show"] for w in ("hr_bureau", "identity.mobile", "gained"))
    assert "policy version 1: active" in shown["approve"]
    # Versions say who decided and when; JSON has null, not "-", where nothing is.
    assert "decided by" in shown["versions"] and "security_officer_b" in shown["versions"]
    assert main(["policy", "versions", "--json", "--target", live.target]) == 0
    newest = json.loads(capsys.readouterr().out)[0]
    assert (newest["approver"], newest["status"]) == ("security_officer_b", "active")
    assert newest["decided_at"] and newest["reason"] is None
    assert main(["policy", "show", "999", "--target", live.target]) == 2
    assert "no policy version 999" in capsys.readouterr().err
