"""Health checking and reflection are on, behind the same mTLS."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.client import PartyCredentials
from tests.live_gateway import LiveGateway
from tests.support import KEYS


def test_health_reports_serving(live: LiveGateway) -> None:
    client = live.client("regulator")
    stub = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "credgate.v1.QueryService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_contract(live: LiveGateway) -> None:
    client = live.client("security_officer")
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"credgate.v1.QueryService", "credgate.v1.RecordService",
            "credgate.v1.ConsentService", "grpc.health.v1.Health"} <= names


def test_an_unregistered_certificate_gets_no_reflection_but_health(live: LiveGateway) -> None:
    # Signed by the gateway's CA, but its party is not in the catalogue.
    stranger = live.client_with(PartyCredentials(
        party="unknown_party", ca=KEYS / "ca.crt", cert=KEYS / "parties" / "unknown_party.crt",
        key=KEYS / "parties" / "unknown_party.key",
        signing_key=KEYS / "parties" / "court.sign.key"))
    stub = reflection_pb2_grpc.ServerReflectionStub(stranger.raw_channel)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(stranger.raw_channel)  # load balancers' probes
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == (
        health_pb2.HealthCheckResponse.SERVING)
