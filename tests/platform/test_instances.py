"""Three gateway processes on one PostgreSQL database behave as one platform.

Records, revocations and the blacklist written at one instance hold at the others; a
max_uses consent raced across the instances is used exactly max_uses times; a signed
request served at one instance is a replay at every other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import pytest

from gateway.api import pb, rpc
from gateway.crypto.signatures import load_signing_key
from gateway.identify.request_signing import sign_request
from gateway.policy.rollout import FOLLOW_EVERY, read_bundle
from tests.platform.instances import GatewayProcess, platform
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS, NOW, POLICIES

pytestmark = pytest.mark.e2e  # gateway processes on a PostgreSQL database

#: A short blacklist cache, so the test waits little for the other instances to see it.
SETTINGS = {"blacklist_cache_s": 0.2}


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sequence[GatewayProcess]]:
    """Three gateway processes on one fresh database, shared by this module's tests."""
    with platform(tmp_path_factory.mktemp("platform"), 3, SETTINGS) as (_, processes):
        yield processes


def consent(gw: GatewayProcess, *, grantee: str = "credit_agency", max_uses: int = 5) -> str:
    return gw.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee=grantee, purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=30), max_uses=max_uses)


def agency_query(gw: GatewayProcess, consent_id: str, agency: str = "credit_agency",
                 ) -> pb.QuerySubjectResponse:
    return gw.client(agency).query_subject(ADULT, "authorised_query", consent_id=consent_id)


def refusal(call) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_records_submitted_at_one_instance_are_served_by_every_other(
        gateways: Sequence[GatewayProcess]) -> None:
    first, second, third = gateways
    first.client("court").submit_records([debtor_record("PLAT-1")])
    for gw in (second, third):
        reply = gw.client("org_department").query_subject(ADULT, "cadre_selection")
        assert "PLAT-1" in {f.value for r in reply.records for f in r.fields}


def test_a_revocation_at_one_instance_holds_at_every_other(
        gateways: Sequence[GatewayProcess]) -> None:
    first, second, third = gateways
    first.client("court").submit_records([debtor_record("PLAT-2")])
    consent_id = consent(first)
    assert agency_query(second, consent_id).records
    third.client("citizen_portal").revoke_consent(consent_id, "withdrawn")
    for gw in gateways:
        err = refusal(lambda gw=gw: agency_query(gw, consent_id))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "revoked" in (err.details() or "")


def test_a_blacklisting_at_one_instance_holds_at_every_other(
        gateways: Sequence[GatewayProcess]) -> None:
    first, second, third = gateways
    consent_id = consent(first, grantee="credit_agency_b")
    assert agency_query(second, consent_id, "credit_agency_b") is not None
    first.client("security_officer").blacklist_agency("credit_agency_b", "超出授权范围查询")
    time.sleep(SETTINGS["blacklist_cache_s"] + 0.1)
    for gw in (second, third):
        err = refusal(lambda gw=gw: agency_query(gw, consent_id, "credit_agency_b"))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "blacklist" in (err.details() or "")
    third.client("security_officer").lift_blacklist("credit_agency_b", "整改完成")
    time.sleep(SETTINGS["blacklist_cache_s"] + 0.1)
    assert agency_query(first, consent_id, "credit_agency_b") is not None


def test_a_max_uses_consent_raced_across_instances_is_used_exactly_max_uses_times(
        gateways: Sequence[GatewayProcess]) -> None:
    gateways[0].client("court").submit_records([debtor_record("PLAT-3")])
    consent_id = consent(gateways[1], max_uses=4)
    clients = [gw.client("credit_agency") for gw in gateways for _ in range(4)]

    def attempt(n: int) -> str:
        try:
            clients[n].query_subject(ADULT, "authorised_query", consent_id=consent_id)
        except grpc.RpcError as exc:
            return "used up" if "used up" in (exc.details() or "") else str(exc.code())
        return "served"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(attempt, range(len(clients))))
    assert sorted(outcomes) == ["served"] * 4 + ["used up"] * (len(clients) - 4)


def test_a_request_served_at_one_instance_is_refused_as_a_replay_at_the_others(
        gateways: Sequence[GatewayProcess]) -> None:
    gateways[0].client("court").submit_records([debtor_record("PLAT-4")])
    request = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
    key = load_signing_key(KEYS / "parties" / "org_department.sign.key")
    headers = sign_request(key, "/credgate.v1.QueryService/QuerySubject",
                           request.SerializeToString(), party="org_department", now=NOW)

    def send(gw: GatewayProcess) -> pb.QuerySubjectResponse:
        stub = rpc.QueryServiceStub(gw.client("org_department").raw_channel)
        return stub.QuerySubject(request, metadata=headers, timeout=10)

    assert send(gateways[1]).records
    for gw in (gateways[2], gateways[0], gateways[1]):
        err = refusal(lambda gw=gw: send(gw))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "replay" in (err.details() or "")


def test_a_policy_proposed_at_one_instance_and_approved_at_another_is_in_force_everywhere_within_a_second(  # noqa: E501
        gateways: Sequence[GatewayProcess]) -> None:
    # Runs last in this module: it changes the policy the three instances serve.
    first, second, third = gateways
    first.client("public_security").submit_records([identity_record()])

    def mobile_released(gw: GatewayProcess) -> bool:
        reply = gw.client("hr_bureau").query_subject(ADULT, "awards")
        return any(f.name == "mobile" for r in reply.records for f in r.fields
                   if r.category == "identity")

    files = read_bundle(POLICIES)
    files["policy.csv"] += b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
    pending = second.client("security_officer").propose_policy(files)
    assert pending.status == "pending"  # two officers: nothing changes yet, anywhere
    assert not any(mobile_released(gw) for gw in gateways)
    approved = third.client("security_officer_b").policy_admin.ApprovePolicy(
        pb.ApprovePolicyRequest(id=pending.id), timeout=60)
    assert approved.status == "active"
    # "Within a second" is the followers' poll interval (a notice usually comes sooner);
    # the deadline below only guards against a hang, so a loaded machine cannot flake it.
    assert FOLLOW_EVERY <= 1.0
    deadline = time.monotonic() + 60
    waiting = {0, 1, 2}
    while waiting and time.monotonic() < deadline:
        waiting = {n for n in waiting if not mobile_released(gateways[n])}
    assert not waiting, f"not in force at instances {sorted(waiting)}"
    versions = first.client("security_officer").policy_admin.ListPolicyVersions(
        pb.ListPolicyVersionsRequest(), timeout=10)
    assert [v.status for v in versions.versions][:1] == ["active"]
