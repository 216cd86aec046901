"""Safe policy rollout over mTLS: validated, tested, diffed, approved, swapped atomically."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.app import Gateway
from gateway.audit.search import AuditFilter
from gateway.config import Config
from gateway.errors import ConfigurationError, CredgateError
from gateway.policy.rollout import read_bundle
from gateway.services.policy_admin import reload_from_files
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS, POLICIES

MOBILE_FOR_AWARDS = "p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
# (Not identity.address: the HR bureau reads a court listing's address in clear for
# awards, and one kind must be protected alike, so validation refuses that one.)
GENDER_FOR_AWARDS = "p, hr_bureau, identity.gender, read_masked, awards, allow,\n"
BREAKS_A_CASE = "p, civil_affairs, honour, read, awards, allow,\n"


def bundle(extra_rule: str = "", *, policy_csv: str | None = None) -> dict[str, bytes]:
    """The shipped policy folder, optionally with one more rule or another policy.csv."""
    files = read_bundle(POLICIES)
    text = policy_csv if policy_csv is not None else files["policy.csv"].decode() + extra_rule
    files["policy.csv"] = text.encode()
    return files


def mobile_release(live: LiveGateway) -> list[tuple[str, int]]:
    reply = live.client("hr_bureau").query_subject(ADULT, "awards")
    return [(f.name, f.disclosure) for r in reply.records for f in r.fields
            if r.category == "identity"]


def test_only_security_officers_administer_policy(live: LiveGateway) -> None:
    for party in ("court", "regulator", "credit_agency"):
        with pytest.raises(grpc.RpcError) as info:
            live.client(party).propose_policy(bundle(MOBILE_FOR_AWARDS))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert live.gw.rollout is not None and live.gw.rollout.versions() == []


def test_good_change_goes_live_with_its_diff(live: LiveGateway) -> None:
    live.client("public_security").submit_records([identity_record()])
    assert mobile_release(live) == []
    before = live.gw.state.version
    version = live.client("security_officer").propose_policy(bundle(MOBILE_FOR_AWARDS))
    assert version.status == "active" and version.author == "security_officer"
    assert '"hr_bureau"' in version.diff_json and '"gained"' in version.diff_json
    assert mobile_release(live) == [("mobile", pb.MASKED)]
    assert live.gw.state.version == version.version != before
    entries = [e for _, e in live.gw.audit.read(start=1, limit=100)]
    proposal = next(e for e in entries if e.action == "policy.propose")
    assert proposal.policy_version == before and "active" in proposal.reason
    assert entries[-1].action == "query.subject" and entries[-1].policy_version == version.version


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (lambda: bundle(policy_csv="p, court, dishonest_debtor, submit\n"), "validation failed"),
        (lambda: bundle(BREAKS_A_CASE), "decision tests failed"),
        (lambda: bundle("p, credit_agency, negative, read, self_query, allow,\n"),
         "validation failed"),
    ],
    ids=["syntax-error", "breaks-a-decision-test", "consent-purpose-without-consent"],
)
def test_bad_change_is_rejected_and_the_old_policy_keeps_serving(
        live: LiveGateway, files: Callable[[], dict[str, bytes]], reason: str) -> None:
    live.client("court").submit_records([debtor_record("RO-1")])
    before = live.gw.state.version
    version = live.client("security_officer").propose_policy(files())
    assert version.status == "rejected" and reason in version.reason
    assert live.gw.state.version == before
    assert live.client("org_department").query_subject(ADULT, "cadre_selection").records


@pytest.mark.parametrize("name", ["../escape.csv", "/etc/passwd", "tests/../../x.toml"])
def test_bundle_cannot_write_outside_its_folder(live: LiveGateway, name: str) -> None:
    files = bundle()
    files[name] = b"x"
    with pytest.raises(grpc.RpcError) as info:
        live.client("security_officer").propose_policy(files)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_two_person_rule(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(policy_two_person=True)
    live.client("public_security").submit_records([identity_record()])
    pending = live.client("security_officer").propose_policy(bundle(MOBILE_FOR_AWARDS))
    assert pending.status == "pending"
    assert mobile_release(live) == []  # nothing changes before the second officer
    with pytest.raises(grpc.RpcError) as info:
        live.client("security_officer").policy_admin.ApprovePolicy(
            pb.ApprovePolicyRequest(id=pending.id), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    approved = live.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=pending.id), timeout=30)
    assert approved.status == "active" and approved.approver == "security_officer_b"
    assert mobile_release(live) == [("mobile", pb.MASKED)]


def test_a_proposal_made_against_another_live_policy_cannot_be_approved(live_factory  # type: ignore[no-untyped-def]
                                                                        ) -> None:
    live = live_factory(policy_two_person=True)
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    first = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    other = officer.propose_policy(bundle(GENDER_FOR_AWARDS))
    second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=other.id), timeout=30)
    # Approving the first now would silently take back what the other one granted.
    with pytest.raises(grpc.RpcError) as info:
        second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=first.id), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "propose it again" in (info.value.details() or "")
    assert live.gw.state.version == other.version


def test_in_flight_calls_see_one_policy_or_the_other(live: LiveGateway) -> None:
    live.client("public_security").submit_records([identity_record()])
    old = live.gw.state.version
    client = live.client("hr_bureau")
    seen: list[tuple[int, bool]] = []
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            reply = client.query_subject(ADULT, "awards")
            masked = any(r.category == "identity" for r in reply.records)
            seen.append((reply.audit_seq, masked))

    threads = [threading.Thread(target=query) for _ in range(4)]
    for t in threads:
        t.start()
    officer = live.client("security_officer")
    new = officer.propose_policy(bundle(MOBILE_FOR_AWARDS)).version
    officer.propose_policy(bundle())
    officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    stop.set()
    for t in threads:
        t.join()
    entries = dict(live.gw.audit.read(start=1, limit=5000))
    assert seen
    for seq, masked in seen:
        # What the caller got and the version the audit names always agree.
        assert entries[seq].policy_version == (new if masked else old)


def roll_out_and_restart(live: LiveGateway, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Roll MOBILE_FOR_AWARDS out, restart, check it still serves; the warnings logged."""
    version = live.client("security_officer").propose_policy(bundle(MOBILE_FOR_AWARDS))
    config = live.gw.config
    live.server.stop(grace=0.5)
    live.gw.close()
    with caplog.at_level(logging.WARNING, logger="credgate"):
        reopened = Gateway.open(config)
    try:
        assert reopened.state.version == version.version
    finally:
        reopened.close()
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_rolled_out_version_survives_a_restart(live_factory, caplog) -> None:  # type: ignore[no-untyped-def]
    warnings = roll_out_and_restart(live_factory(subdir="restart"), caplog)
    # The files in policies/ are not what serves: the operator is told so at start-up.
    assert any("the files in" in m and "not live until rolled out" in m for m in warnings)


def test_no_warning_when_the_rolled_out_version_is_the_files(live_factory, tmp_path: Path,
                                                            caplog) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "policies"
    for name, data in bundle(MOBILE_FOR_AWARDS).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    warnings = roll_out_and_restart(live_factory(policies=folder, subdir="same-files"), caplog)
    assert not [m for m in warnings if "not live until rolled out" in m]


def test_sighup_rolls_out_the_edited_files(live_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "policies"
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    live = live_factory(policies=folder, subdir="sighup")
    with (folder / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(BREAKS_A_CASE)
    assert reload_from_files(live.gw).status == "rejected"
    (folder / "policy.csv").write_bytes(read_bundle(POLICIES)["policy.csv"] +
                                        MOBILE_FOR_AWARDS.encode())
    record = reload_from_files(live.gw)
    assert record.status == "active" and live.gw.state.version == record.version
    reloads = [e for _, e in live.gw.audit.read(start=1, limit=100)
               if e.action == "policy.reload"]
    assert [e.reason.split()[2] for e in reloads] == ["rejected", "active"]


def test_a_refused_reload_is_audited(live_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "policies"
    for name, data in read_bundle(POLICIES).items():
        if name != "masking.toml":  # a bundle that cannot even be read as one
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    live = live_factory(policies=POLICIES, subdir="reload-refused")
    live.gw.config = replace(live.gw.config, policies_dir=folder)
    with pytest.raises(CredgateError):
        reload_from_files(live.gw)
    [entry] = [e for _, e in live.gw.audit.read(start=1, limit=100)
               if e.action == "policy.reload"]
    assert entry.decision == "deny" and entry.requester == "operator:SIGHUP"



def test_a_sighup_reload_is_diffed_against_what_serves_and_can_be_approved(
        live_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The files are edited in place, then reloaded: the gateway serves a copy, so the
    # proposal shows the real change and the second officer can approve it.
    folder = tmp_path / "policies"
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    live = live_factory(policies=folder, subdir="sighup-two", policy_two_person=True)
    with (folder / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(MOBILE_FOR_AWARDS)
    record = reload_from_files(live.gw)
    assert record.status == "pending"
    assert [(c["party"], c["object"]) for c in record.diff["gained"]] == [
        ("hr_bureau", "identity.mobile")]
    approved = live.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=record.id), timeout=30)
    assert approved.status == "active"


def test_a_masking_only_change_makes_older_proposals_stale(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(policy_two_person=True)
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    rules = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    masking = read_bundle(POLICIES)
    masking["masking.toml"] = masking["masking.toml"].replace(
        b'mobile = "mask"', b'mobile = "drop"', 1)
    masked = officer.propose_policy(masking)
    assert "masking profiles changed (masking.toml)" in json.loads(
        masked.diff_json)["notes"]
    second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=masked.id), timeout=30)
    with pytest.raises(grpc.RpcError) as info:  # it would silently undo the masking change
        second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=rules.id), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_pending_version_is_rejected_with_a_comment_and_the_policy_stays(  # type: ignore[no-untyped-def]
        live_factory) -> None:
    live = live_factory(policy_two_person=True)
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    before = live.gw.state.version
    pending = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    tests = json.loads(pending.diff_json)["tests"]  # what the approving officer is shown
    assert tests["summary"].startswith("PASS: ") and len(tests["cases"]) > 10
    turned_down = second.policy_admin.RejectPolicy(
        pb.RejectPolicyRequest(id=pending.id, comment="not needed for awards"), timeout=30)
    assert turned_down.status == "rejected" and turned_down.comment == "not needed for awards"
    assert turned_down.reason == "rejected by security_officer_b"
    assert live.gw.state.version == before
    for late in (pb.ApprovePolicyRequest(id=pending.id),
                 pb.RejectPolicyRequest(id=pending.id, comment="again")):
        call = (second.policy_admin.ApprovePolicy if isinstance(late, pb.ApprovePolicyRequest)
                else second.policy_admin.RejectPolicy)
        with pytest.raises(grpc.RpcError) as info:
            call(late, timeout=30)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The author may withdraw their own proposal; approving it stays the second officer's.
    own = officer.propose_policy(bundle(GENDER_FOR_AWARDS))
    withdrawn = officer.policy_admin.RejectPolicy(
        pb.RejectPolicyRequest(id=own.id, comment="withdrawn"), timeout=30)
    assert withdrawn.status == "rejected"
    entries = live.gw.audit_search.search(AuditFilter(action="policy.reject"), page_size=10)
    assert [e.decision for _, e in entries.entries] == ["allow", "deny", "allow"]
    assert all("not needed" not in e.canonical_bytes().decode() for _, e in entries.entries)


def test_a_comment_holding_personal_numbers_is_refused_without_echo(  # type: ignore[no-untyped-def]
        live_factory) -> None:
    live = live_factory(policy_two_person=True)
    pending = live.client("security_officer").propose_policy(bundle(MOBILE_FOR_AWARDS))
    second = live.client("security_officer_b")
    for comment in (f"call {ADULT}", f"id{ADULT}x", "ring 138 0013 8000", "x" * 501,
                    "bell\x07"):
        for request, call in ((pb.ApprovePolicyRequest(id=pending.id, comment=comment),
                               second.policy_admin.ApprovePolicy),
                              (pb.RejectPolicyRequest(id=pending.id, comment=comment),
                               second.policy_admin.RejectPolicy)):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, comment
            assert comment[:12] not in (info.value.details() or "")
    assert live.client("security_officer_b").policy_admin.ListPolicyVersions(
        pb.ListPolicyVersionsRequest(), timeout=30).versions[0].status == "pending"


# ------------------------------------------------------------------ strict files


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("catalogue.toml", "\npublic = false", '\npublic = "no"',
     "error: categories.identity.public must be true or false, not a string"),
    ("parties.toml", 'kind = "department"\n', "", "error: missing key parties.court.kind"),
    ("masking.toml", "\ndescription = ", "\ndescripton = ", "error: unknown key public.descripton"),
    ("tests/limits.toml", "calls = 61", 'calls = "61"', "quota[1].calls must be a whole number"),
])
def test_a_reload_of_a_file_with_a_bad_key_is_rejected_naming_its_line(
        live_factory, tmp_path: Path, name: str, old: str, new: str,  # type: ignore[no-untyped-def]
        says: str) -> None:
    folder = tmp_path / "policies"
    for file, data in read_bundle(POLICIES).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(data)
    live = live_factory(policies=folder, subdir="strict-reload")
    before = live.gw.state.version
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text
    line = text[:text.index(old) + len(old)].count("\n") + 1 - old.endswith("\n")
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    record = reload_from_files(live.gw)
    assert record.status == "rejected" and live.gw.state.version == before
    if name == "parties.toml":
        line = text.split("\n").index("[parties.court]") + 1  # the table missing the key
    assert f"{Path(name).name}:{line}: {says}" in record.reason, record.reason


def test_the_gateway_does_not_start_on_a_file_with_a_bad_key(tmp_path: Path) -> None:
    policies, keys = tmp_path / "policies", tmp_path / "keys"
    shutil.copytree(POLICIES, policies)
    shutil.copytree(KEYS, keys)
    text = (policies / "purposes.toml").read_text(encoding="utf-8")
    (policies / "purposes.toml").write_text(
        text.replace("consent_required = false", "consent_requird = false", 1),
        encoding="utf-8")
    config = Config(data_dir=tmp_path / "data", keys_dir=keys, policies_dir=policies)
    with pytest.raises(ConfigurationError, match=r"^purposes\.toml:\d+: unknown key "
                                                 r"purposes\.cadre_selection\.consent_requird"):
        Gateway.open(config)
    shutil.copy(POLICIES / "purposes.toml", policies / "purposes.toml")
    text = (keys / "data-keys.toml").read_text(encoding="utf-8")
    (keys / "data-keys.toml").write_text(text.replace("[blind_index]\nactive",
                                                      "[blind_index]\nactiv", 1),
                                         encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"^data-keys\.toml:\d+: unknown key "
                                                 r"blind_index\.activ in "):
        Gateway.open(config)
