"""Bad input is INVALID_ARGUMENT, and it is audited, through a real gateway.

Malformed protobuf bodies (truncated varint, bad length, invalid UTF-8, a lone
surrogate, deep groups, field 0) used to fail inside gRPC before any servicer saw them:
INTERNAL, no audit entry. The gateway now decodes bodies itself. Every credgate method
gets every malformed body, plus generated mutations of a valid one; each is refused as
INVALID_ARGUMENT with one deny entry naming the caller (from its certificate) and the
method. The other inputs that gave INTERNAL (a deeply nested consent artefact, an
out-of-range time, a nested masking.toml) are tried in their variants too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.consent.artefacts import new_terms
from gateway.crypto.signatures import load_signing_key, sign
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.support import ADULT, KEYS, NOW, POLICIES
from tests.wire_bodies import malformed_bodies

METHODS = [f"/{s.full_name}/{m.name}" for s in pb.DESCRIPTOR.services_by_name.values()
           for m in s.methods]
STREAMING = {f"/{s.full_name}/{m.name}" for s in pb.DESCRIPTOR.services_by_name.values()
             for m in s.methods if m.server_streaming}
SHAPES = ["bad_length", "deep_groups", "field_0", "invalid_utf8", "lone_surrogate",
          "truncated_varint"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    running = start_live(tmp_path_factory.mktemp("malformed"), FixedClock(NOW))
    try:
        yield running
    finally:
        stop_live(running)


def _send(live: LiveGateway, party: str, method: str, body: bytes) -> grpc.RpcError:
    channel = live.__dict__.setdefault("raw", {}).get(party)
    if channel is None:
        channel = live.__dict__["raw"][party] = live.client(party).raw_channel
    call = (channel.unary_stream if method in STREAMING else channel.unary_unary)(method)
    with pytest.raises(grpc.RpcError) as info:
        reply = call(body, timeout=10)
        if method in STREAMING:
            list(reply)
    return info.value


def _last_refusal(live: LiveGateway, before: int) -> object:
    entries = live.gw.audit.read(start=before + 1, limit=10)
    assert len(entries) == 1, [e.reason for _, e in entries]
    return entries[0][1]


def _body_valid_for(method: str, body: bytes) -> bool:
    service, name = method.strip("/").split("/")
    desc = pb.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]].methods_by_name[name]
    try:
        getattr(pb, desc.input_type.name).FromString(body)
    except Exception:
        return False
    return True


def _input_type(method: str) -> object:
    service, name = method.strip("/").split("/")
    desc = pb.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]].methods_by_name[name]
    return getattr(pb, desc.input_type.name)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_method_refuses_a_malformed_body_and_audits_it(gw: LiveGateway,
                                                              shape: str) -> None:
    tried = 0
    for method in METHODS:
        body = malformed_bodies(_input_type(method)).get(shape)
        if body is None:
            continue  # no string field: UTF-8 shapes do not apply to this message
        tried += 1
        before = gw.gw.audit.size()
        error = _send(gw, "court", method, body)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.details())
        assert f"({len(body)} bytes)" in (error.details() or "")
        entry = _last_refusal(gw, before)
        assert (entry.action, entry.decision, entry.requester) == (  # type: ignore[attr-defined]
            "request.malformed", "deny", "court")
        assert entry.reason == f"malformed_request {method}"  # type: ignore[attr-defined]
    assert tried >= len(METHODS) // 2


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(METHODS), body=st.binary(min_size=1, max_size=40))
def test_generated_bodies_are_served_or_refused_never_internal(gw: LiveGateway, method: str,
                                                                body: bytes) -> None:
    before = gw.gw.audit.size()
    try:
        channel = gw.client("regulator").raw_channel
        call = (channel.unary_stream if method in STREAMING else channel.unary_unary)(method)
        reply = call(body, timeout=10)
        if method in STREAMING:
            list(reply)
    except grpc.RpcError as error:
        assert error.code() != grpc.StatusCode.INTERNAL, error.details()
        if not _body_valid_for(method, body):
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert gw.gw.audit.size() >= before + 1  # whatever happened, it is in the log


def test_an_unregistered_certificate_with_a_malformed_body_is_unauthenticated(
        gw: LiveGateway) -> None:
    from gateway.client import CredgateClient, PartyCredentials
    stranger = PartyCredentials(party="unknown_party", ca=KEYS / "ca.crt",
                                cert=KEYS / "parties" / "unknown_party.crt",
                                key=KEYS / "parties" / "unknown_party.key",
                                signing_key=KEYS / "parties" / "court.sign.key")
    client = CredgateClient(gw.target, stranger, clock=gw.gw.clock)
    try:
        before = gw.gw.audit.size()
        with pytest.raises(grpc.RpcError) as info:
            client.raw_channel.unary_unary("/credgate.v1.QueryService/QuerySubject")(
                b"\x0a\x10ab", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        entry = _last_refusal(gw, before)
        assert entry.reason == "unknown_party"  # type: ignore[attr-defined]
    finally:
        client.close()


def test_the_raw_bytes_reach_the_request_frame(gw: LiveGateway) -> None:
    request = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
    gw.spans.clear()
    gw.client("org_department").queries.QuerySubject(request, timeout=10)
    [root] = [s for s in gw.spans.get_finished_spans()
              if s.name == "credgate.v1.QueryService/QuerySubject"]
    assert root.attributes["credgate.request_bytes"] == len(request.SerializeToString())


@pytest.mark.parametrize("artefact", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"max_uses":' + b"9" * 5000 + b"}",
])
def test_a_deeply_nested_or_huge_consent_artefact_is_invalid_argument(
        gw: LiveGateway, artefact: bytes) -> None:
    signature = sign(load_signing_key(KEYS / "parties" / "citizen_portal.sign.key"), artefact)
    before = gw.gw.audit.size()
    with pytest.raises(grpc.RpcError) as info:
        gw.client("citizen_portal").register_consent(artefact, signature)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _last_refusal(gw, before).decision == "deny"  # type: ignore[attr-defined]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                  "0001-01-01T00:30:00+23:59", "10000-01-01T00:00:00Z",
                                  "2026-13-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59"])
def test_an_out_of_range_time_is_invalid_argument(gw: LiveGateway, when: str) -> None:
    for field in ("time_from", "time_to"):
        before = gw.gw.audit.size()
        with pytest.raises(grpc.RpcError) as info:
            gw.client("regulator").audit.ListAuditEntries(
                pb.ListAuditEntriesRequest(**{field: when}), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _last_refusal(gw, before).decision == "deny"  # type: ignore[attr-defined]


@pytest.mark.parametrize("nesting", [
    "deep = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
    "deep = " + "[" * 2000 + "]" * 2000 + "\n",
    "deep = " + "{a = " * 20 + "1" + "}" * 20 + "\n",
    "[" + ".".join(["t"] * 40) + "]\nx = 1\n",
])
def test_a_nested_policy_toml_is_invalid_argument(gw: LiveGateway, nesting: str) -> None:
    for name in ("masking.toml", "catalogue.toml", "tests/denials.toml"):
        files = read_bundle(POLICIES)
        files[name] = files[name] + b"\n" + nesting.encode()
        before = gw.gw.audit.size()
        with pytest.raises(grpc.RpcError) as info:
            gw.client("security_officer").propose_policy(files)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert _last_refusal(gw, before).decision == "deny"  # type: ignore[attr-defined]


def test_a_valid_consent_still_registers(gw: LiveGateway) -> None:
    terms = new_terms(subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
                      categories=["dishonest_debtor"], not_before=NOW,
                      not_after=NOW + timedelta(days=1), max_uses=1, issuer="citizen_portal",
                      issued_at=NOW)
    artefact = terms.canonical_bytes()
    key = load_signing_key(KEYS / "parties" / "citizen_portal.sign.key")
    assert gw.client("citizen_portal").register_consent(artefact, sign(key, artefact))
