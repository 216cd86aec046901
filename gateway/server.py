"""The gRPC server: mTLS only, health checking and reflection on, servicers mounted."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.consent.uses import instance_id
from gateway.errors import ConfigurationError, CredgateError
from gateway.health import HealthWatch, store_probe
from gateway.identify.certificate import identify
from gateway.identify.trust import PeerTrust
from gateway.peers.ask import open_peer_askers
from gateway.peers.outbox import OutboxPusher
from gateway.services.audit import AuditServicer
from gateway.services.blacklist import BlacklistServicer
from gateway.services.checks import CheckServicer
from gateway.services.common import refuse_malformed
from gateway.services.complaints import ComplaintServicer
from gateway.services.consent import ConsentServicer
from gateway.services.disclosure import DisclosureServicer
from gateway.services.extensions import ExtensionServicer
from gateway.services.objections import ObjectionServicer
from gateway.services.peers import PeerServicer
from gateway.services.policy_admin import PolicyAdminServicer
from gateway.services.query import QueryServicer
from gateway.services.records import RecordServicer
from gateway.services.removal import RemovalServicer
from gateway.services.repair import RepairServicer
from gateway.services.subject import SubjectServicer
from gateway.services.supervision import SupervisionServicer
from gateway.validate.wire import DecodeRequests

log = logging.getLogger("credgate.server")

SERVICE_NAMES = tuple(
    pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("RecordService", "QueryService", "ConsentService", "SubjectService",
                 "AuditService", "PolicyAdmin", "ObjectionService", "RepairService",
                 "RemovalService", "CheckService", "BlacklistService", "DisclosureService",
                 "PeerService", "SupervisionService")
)
# Large enough for a full batch of records, small enough to bound memory per call.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise ConfigurationError(f"cannot read {path.name}", detail=str(path)) from None


def server_credentials(keys_dir: Path, peers: PeerTrust | None = None
                       ) -> grpc.ServerCredentials:
    """TLS credentials that require a client certificate chaining to the gateway's CA or
    to a peer's trust bundle (identify then holds each to its own domain)."""
    return grpc.ssl_server_credentials(
        [(_read(keys_dir / "gateway.key"), _read(keys_dir / "gateway.crt"))],
        root_certificates=(_read(keys_dir / "ca.crt") if peers is None
                           else peers.root_certificates()),
        require_client_auth=True,
    )


class RegisteredPartiesReflect(grpc.ServerInterceptor):
    """Server reflection for registered parties only.

    A certificate from the gateway's CA whose party is not (or no longer) in the
    catalogue gets nothing from credgate's services, which identify every call; without
    this it could still hold the worker threads with reflection streams. Health checks
    stay open to any mTLS peer, for load balancers.
    """

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def intercept_service(self, continuation: Any,
                          handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Wrap reflection's handler with the identify check; pass everything else."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(f"/{reflection.SERVICE_NAME}/") or (
                handler.stream_stream is None):
            return handler
        reflect = handler.stream_stream
        gw = self._gw

        def identified(requests: Any, context: grpc.ServicerContext) -> Any:
            try:
                identify(context.auth_context(), gw.state.catalogue, gw.peers)
            except CredgateError as err:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, err.message)
            return reflect(requests, context)

        return grpc.stream_stream_rpc_method_handler(
            identified, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


@dataclass
class RunningServer:
    """A started server and the port it listens on."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    watch: HealthWatch | None = None

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop accepting calls and wait for in-flight ones up to `grace` seconds."""
        if self.watch is not None:
            self.watch.stop()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


def start_server(gw: Gateway, *, listen: str | None = None, reuse_port: bool = False,
                 health_interval: float = 1.0) -> RunningServer:
    """Start serving the gateway over mTLS; `listen` "host:0" picks a free port.

    ``reuse_port`` lets several worker processes listen on one port (the kernel spreads
    connections); health reports NOT_SERVING while the audit log or store is unreachable.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=gw.config.max_workers,
                                   thread_name_prefix="credgate-rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # Behind an L4 balancer a client keeps its connection, and with it its
            # instance, for ever; a maximum age makes it reconnect (grace for calls
            # under way) so that load spreads again.
            *([("grpc.max_connection_age_ms", int(gw.config.max_connection_age_s * 1000)),
               ("grpc.max_connection_age_grace_ms", 10_000)]
              if gw.config.max_connection_age_s else []),
        ],
        # Every credgate.v1 body is decoded by the gateway, so a malformed one is audited.
        interceptors=[RegisteredPartiesReflect(gw),
                      DecodeRequests(f"/{pb.DESCRIPTOR.package}.", refuse_malformed(gw))],
    )
    rpc.add_RecordServiceServicer_to_server(RecordServicer(gw), server)
    rpc.add_QueryServiceServicer_to_server(QueryServicer(gw), server)
    rpc.add_ConsentServiceServicer_to_server(ConsentServicer(gw), server)
    rpc.add_SubjectServiceServicer_to_server(SubjectServicer(gw), server)
    rpc.add_AuditServiceServicer_to_server(AuditServicer(gw), server)
    rpc.add_PolicyAdminServicer_to_server(PolicyAdminServicer(gw), server)
    rpc.add_DisclosureServiceServicer_to_server(DisclosureServicer(gw), server)
    rpc.add_ObjectionServiceServicer_to_server(ObjectionServicer(gw), server)
    rpc.add_RepairServiceServicer_to_server(RepairServicer(gw), server)
    rpc.add_RemovalServiceServicer_to_server(RemovalServicer(gw), server)
    rpc.add_CheckServiceServicer_to_server(CheckServicer(gw), server)
    rpc.add_ComplaintServiceServicer_to_server(ComplaintServicer(gw), server)
    rpc.add_ExtensionServiceServicer_to_server(ExtensionServicer(gw), server)
    rpc.add_BlacklistServiceServicer_to_server(BlacklistServicer(gw), server)
    rpc.add_PeerServiceServicer_to_server(PeerServicer(gw), server)
    rpc.add_SupervisionServiceServicer_to_server(SupervisionServicer(gw), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = listen or gw.config.listen
    port = server.add_secure_port(address, server_credentials(gw.config.keys_dir, gw.peers))
    if port == 0:
        raise ConfigurationError(f"cannot listen on {address}")
    server.start()
    if gw.peer_askers is None:  # checks ask config ask_peer; objections go to origins
        gw.peer_askers = open_peer_askers(
            keys_dir=gw.config.keys_dir, platform_id=gw.config.platform_id, peers=gw.peers,
            ask_peer=gw.config.ask_peer, budget_s=gw.config.ask_peer_budget_s, clock=gw.clock)
    if gw.outbox is None and gw.peers is not None and gw.config.platform_id:
        # This gateway pushes what sharing.toml sends to its peers (gateway/peers/outbox.py).
        pusher = OutboxPusher(gw, holder=instance_id(gw.config.data_dir),
                              batch=gw.config.peer_push_batch)
        pusher.start()
        gw.outbox = pusher

    def report(healthy: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if healthy
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in (*SERVICE_NAMES, ""):
            health_servicer.set(name, status)

    watch = HealthWatch({"audit log": gw.audit.ping, "store": store_probe(gw.store)}, report,
                        interval=health_interval)
    watch.start()
    log.info("credgate listening on %s (mTLS required)", address.rsplit(":", 1)[0] + f":{port}")
    return RunningServer(server=server, port=port, health=health_servicer, watch=watch)
