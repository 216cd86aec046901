"""PolicyAdmin/ExplainDecision over mTLS: how the gateway decides, under the live version
or a kept one, for security officers only, audited; and proposals made against a policy
that is no longer live are marked out of date."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from gateway.api import pb
from gateway.cli.common import message_dict
from gateway.policy.explain import ExplainRequest, explain_decision
from gateway.policy.validate import open_policies
from tests.live_gateway import LiveGateway
from tests.services.test_policy_rollout import GENDER_FOR_AWARDS, MOBILE_FOR_AWARDS, bundle
from tests.support import ADULT, POLICIES

VOLUNTEERING_FOR_AWARDS = "p, civil_affairs, volunteer_service, read, awards, allow,\n"


def explain(live: LiveGateway, caller: str = "security_officer", **asked: object
            ) -> pb.ExplainDecisionResponse:
    reply: pb.ExplainDecisionResponse = live.client(caller).policy_admin.ExplainDecision(
        pb.ExplainDecisionRequest(**asked), timeout=30)  # type: ignore[arg-type]
    return reply


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


@pytest.fixture
def two_person(live_factory: Callable[..., LiveGateway]) -> LiveGateway:
    return live_factory(policy_two_person=True)


def test_allow_deny_and_masked_under_the_live_version(live: LiveGateway) -> None:
    asked = {"party": "credit_agency", "purpose": "authorised_query",
             "object": "dishonest_debtor.amount"}
    refused = explain(live, **asked)
    assert not refused.allowed and refused.rule.text == "" and refused.release == "withheld"
    assert refused.reason == "no rule allows (condition not met: consent)"
    assert any(c.condition == "consent" and not c.condition_holds for c in refused.candidates)
    allowed = explain(live, **asked, consent=True)
    assert allowed.allowed and allowed.release == "clear" and allowed.casbin_agrees
    assert allowed.rule.decided and allowed.rule.effect == "allow"
    assert allowed.rule.condition == "consent" and allowed.rule.text.startswith("policy.csv:")
    assert list(allowed.object_chain) == ["dishonest_debtor.amount", "dishonest_debtor",
                                          "negative"]
    # A deny rule decides a clear read of an address; the address is released masked.
    masked = explain(live, party="org_department", purpose="cadre_selection",
                     object="identity.address")
    assert not masked.allowed and masked.release == "masked"
    assert masked.rule.effect == "deny" and masked.rule.decided
    assert list(masked.role_chain) == ["org_department", "personnel_authority"]
    # It decides under what the gateway serves, and says which version that is.
    assert masked.live and masked.version == live.gw.state.version
    assert masked.bundle_hash == live.gw.state.directory.name
    assert masked.version_status == "active" and masked.version_id == 0  # no rollout yet


def test_the_gateway_explains_as_the_cli_does_on_the_same_files(live: LiveGateway) -> None:
    """One explanation (gateway.policy.explain): the RPC's answer is the folder's."""
    local = explain_decision(open_policies(POLICIES), ExplainRequest(
        party="hr_bureau", purpose="awards", obj="identity", action="read", subject_age=40))
    reply = explain(live, party="hr_bureau", purpose="awards", object="identity",
                    subject_age=40)
    wire = message_dict(reply)
    assert wire["allowed"] == local.allowed and wire["reason"] == local.reason
    assert [c["text"] for c in wire["candidates"]] == [c.text for c in local.candidates]
    assert wire["release"] == local.release == ""  # a category, not a field


def test_a_pending_proposal_is_explained_by_its_id_and_the_live_one_by_default(
        two_person: LiveGateway) -> None:
    live = two_person
    asked = {"party": "civil_affairs", "purpose": "awards", "object": "volunteer_service"}
    pending = live.client("security_officer").propose_policy(bundle(VOLUNTEERING_FOR_AWARDS))
    assert pending.status == "pending"
    before = explain(live, **asked)
    assert not before.allowed and before.live and before.version_id == 0
    would = explain(live, **asked, version_id=pending.id)
    assert would.allowed and not would.live
    assert (would.version_id, would.version_status) == (pending.id, "pending")
    assert (would.version, would.bundle_hash) == (pending.version, pending.bundle_hash)
    assert "volunteer_service, read, awards, allow" in would.rule.text
    # Explaining changed nothing: the gateway still refuses civil affairs.
    assert explain(live, **asked).allowed is False
    live.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=pending.id), timeout=30)
    after = explain(live, **asked)
    assert after.allowed and after.live and after.version_status == "active"
    assert (after.version_id, after.version) == (pending.id, pending.version)
    reply = live.client("civil_affairs").query_subject(ADULT, "awards")
    assert reply.audit_seq  # the gateway now serves what it explained


def test_only_security_officers_may_explain(two_person: LiveGateway) -> None:
    """As for ListPolicyVersions: the policy is read by security officers alone."""
    for party in ("regulator", "court", "credit_agency"):
        before = two_person.gw.audit.size()
        err = refusal(lambda p=party: explain(two_person, p, party="court",  # type: ignore[misc]
                                              purpose="cadre_selection", object="identity"))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        [(_, entry)] = two_person.gw.audit.read(start=before + 1, limit=10)
        assert (entry.action, entry.requester, entry.decision) == ("policy.explain", party,
                                                                    "deny")
        assert entry.reason == "not_security_officer"


@pytest.mark.parametrize("field", ["party", "purpose", "object", "action"])
def test_unknown_codes_are_refused_without_echo(live: LiveGateway, field: str) -> None:
    asked = {"party": "credit_agency", "purpose": "authorised_query",
             "object": "identity.address", "action": "read"}
    sent = f"zz {ADULT} 王小明"
    asked[field] = sent
    before = live.gw.audit.size()
    err = refusal(lambda: explain(live, **asked))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.details() or ""
    assert f"unknown {field} code" in details
    assert ADULT not in details and "王小明" not in details and "zz" not in details
    [(_, entry)] = live.gw.audit.read(start=before + 1, limit=10)
    assert (entry.action, entry.decision, entry.reason) == ("policy.explain", "deny",
                                                            "unknown_code")
    logged = entry.canonical_bytes().decode()
    assert ADULT not in logged and "王小明" not in logged


def test_a_near_miss_is_named_by_the_catalogue_code(live: LiveGateway) -> None:
    err = refusal(lambda: explain(live, party="credit_agncy", purpose="authorised_query",
                                  object="identity"))
    assert "nearest valid code: credit_agency" in (err.details() or "")


def test_an_age_outside_0_150_is_refused(live: LiveGateway) -> None:
    err = refusal(lambda: explain(live, party="credit_agency", purpose="authorised_query",
                                  object="identity", subject_age=151))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "0-150" in (err.details() or "")


@pytest.mark.parametrize("version_id", [999, 2**63, 2**64 - 1])
def test_an_unknown_version_is_refused(live: LiveGateway, version_id: int) -> None:
    err = refusal(lambda: explain(live, party="court", purpose="cadre_selection",
                                  object="identity", version_id=version_id))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "no policy version with this id"


def test_a_rejected_version_is_not_explained(two_person: LiveGateway) -> None:
    officer = two_person.client("security_officer")
    proposal = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    officer.policy_admin.RejectPolicy(pb.RejectPolicyRequest(id=proposal.id, comment="no"),
                                      timeout=30)
    err = refusal(lambda: explain(two_person, party="hr_bureau", purpose="awards",
                                  object="identity.mobile", version_id=proposal.id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_an_explanation_is_audited_with_what_was_explained(live: LiveGateway) -> None:
    before = live.gw.audit.size()
    explain(live, party="credit_agency", purpose="authorised_query",
            object="dishonest_debtor.amount", consent=True)
    [(_, entry)] = live.gw.audit.read(start=before + 1, limit=10)
    assert (entry.action, entry.requester, entry.decision) == ("policy.explain",
                                                                "security_officer", "allow")
    assert entry.purpose == "supervision" and entry.subject_index == ""
    assert entry.policy_version == live.gw.state.version
    assert entry.reason == (f"policy 0 {live.gw.state.version[:16]} live: credit_agency read "
                            "dishonest_debtor.amount for authorised_query with consent allow")
    assert entry.request_signature.startswith("v2 ")  # signed by the officer, verifiable


def test_a_proposal_made_before_another_went_live_is_out_of_date(
        two_person: LiveGateway) -> None:
    officer, second = two_person.client("security_officer"), \
        two_person.client("security_officer_b")
    first = officer.propose_policy(bundle(MOBILE_FOR_AWARDS))
    other = officer.propose_policy(bundle(GENDER_FOR_AWARDS))

    def listed() -> dict[int, tuple[str, bool]]:
        reply = officer.policy_admin.ListPolicyVersions(pb.ListPolicyVersionsRequest(),
                                                        timeout=30)
        return {v.id: (v.status, v.out_of_date) for v in reply.versions}

    assert listed() == {first.id: ("pending", False), other.id: ("pending", False)}
    second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=other.id), timeout=30)
    assert listed() == {first.id: ("pending", True), other.id: ("active", False)}
    # What the list says is what an approval meets.
    err = refusal(lambda: second.policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=first.id), timeout=30))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    # It can still be explained, to see what it would do (and what it would take back).
    would = explain(two_person, party="hr_bureau", purpose="awards",
                    object="identity.gender", version_id=first.id)
    assert would.release == "withheld" and not would.live
    assert explain(two_person, party="hr_bureau", purpose="awards",
                   object="identity.gender").release == "masked"
