"""`credgate policy explain --gateway`: the gateway's decision, under the live version or a
pending proposal; `policy versions` and `policy show` mark a proposal out of date."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gateway.api import pb
from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.test_policy_rollout import GENDER_FOR_AWARDS, MOBILE_FOR_AWARDS, bundle
from tests.support import KEYS, POLICIES

Capture = pytest.CaptureFixture[str]
VOLUNTEERING = ["--party", "civil_affairs", "--purpose", "awards", "--object",
                "volunteer_service"]


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def two_person(live_factory: Callable[..., LiveGateway]) -> LiveGateway:
    return live_factory(policy_two_person=True)


def at(live: LiveGateway, *extra: str) -> list[str]:
    return ["--gateway", live.target, "--keys", str(KEYS), *extra]


def test_explain_at_the_gateway_follows_what_it_serves(two_person: LiveGateway,
                                                       capsys: Capture) -> None:
    live = two_person
    pending = live.client("security_officer").propose_policy(bundle(
        "p, civil_affairs, volunteer_service, read, awards, allow,\n"))
    # The local folder and the live gateway both refuse; the proposal would allow.
    assert main(["policy", "explain", *VOLUNTEERING, "--policies", str(POLICIES)]) == 1
    assert main(["policy", "explain", *VOLUNTEERING, *at(live)]) == 1
    out = capsys.readouterr().out
    assert out.count("decision:  DENY") == 2
    assert f"version:   the files it started with (live) {live.gw.state.version[:16]}" in out
    assert main(["policy", "explain", *VOLUNTEERING, *at(live),
                 "--policy-version", str(pending.id)]) == 0
    out = capsys.readouterr().out
    assert "decision:  ALLOW" in out and "volunteer_service, read, awards, allow" in out
    assert f"version:   #{pending.id} (pending) {pending.version[:16]}" in out
    live.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=pending.id), timeout=30)
    assert main(["policy", "explain", *VOLUNTEERING, *at(live), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["allowed"] and report["release"] is None  # a category, not a field
    assert report["version"] == {"id": pending.id, "version": pending.version,
                                 "bundle_hash": pending.bundle_hash, "status": "active",
                                 "live": True}
    assert report["rule"]["file"] == "policy.csv" and report["casbin_agrees"]
    # The folder knows nothing of the approval: only the gateway says what serves.
    assert main(["policy", "explain", *VOLUNTEERING, "--policies", str(POLICIES)]) == 1


def test_explain_at_the_gateway_prints_what_the_folder_would(live: LiveGateway,
                                                              capsys: Capture) -> None:
    """One explanation: the same text from the folder and from the gateway."""
    asked = ["--party", "org_department", "--purpose", "cadre_selection", "--object",
             "identity.address", "--consent", "--subject-age", "40"]
    assert main(["policy", "explain", *asked, "--policies", str(POLICIES)]) == 1
    local = capsys.readouterr().out
    assert main(["policy", "explain", *asked, *at(live)]) == 1
    remote = capsys.readouterr().out
    assert remote.startswith(local) and "release:   masked" in local
    assert remote[len(local):].startswith("version:   ")


def test_explain_at_the_gateway_as_a_regulator_is_refused(live: LiveGateway,
                                                          capsys: Capture) -> None:
    assert main(["policy", "explain", *VOLUNTEERING, *at(live, "--as", "regulator")]) == 1
    err = capsys.readouterr().err
    assert "PERMISSION_DENIED" in err and "security officers" in err


def test_unknown_names_at_the_gateway_are_broken_input(live: LiveGateway,
                                                       capsys: Capture) -> None:
    assert main(["policy", "explain", "--party", "nobody", "--purpose", "cadre_selection",
                 "--object", "identity", *at(live)]) == 2
    assert "INVALID_ARGUMENT: unknown party code" in capsys.readouterr().err
    assert main(["policy", "explain", *VOLUNTEERING, *at(live, "--policy-version",
                                                             "999")]) == 2
    assert "no policy version with this id" in capsys.readouterr().err


def test_versions_and_show_mark_an_out_of_date_proposal(two_person: LiveGateway,
                                                        capsys: Capture) -> None:
    officer = two_person.client("security_officer")
    first = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    other = officer.propose_policy(bundle(GENDER_FOR_AWARDS))
    two_person.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=other.id), timeout=30)
    target = ["--target", two_person.target, "--keys", str(KEYS)]
    assert main(["policy", "versions", *target]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "pending (out of date)" in rows[str(first.id)]
    assert "active" in rows[str(other.id)] and "out of date" not in rows[str(other.id)]
    assert main(["policy", "show", str(first.id), *target]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"policy version {first.id}: pending (out of date)")
    assert "out of date: another policy went live" in shown
    assert "credgate policy approve" not in shown  # nothing to approve
    assert main(["policy", "versions", *target, "--json"]) == 0
    listed = {v["id"]: v["out_of_date"] for v in json.loads(capsys.readouterr().out)}
    assert listed == {first.id: True, other.id: False}
