"""A signed request served at one instance is a replay at another, for every method.

Two gateways on one data folder (one shared log and store, as `serve --workers` or a
second `serve`): each credgate method gets a signed body at the first instance, then the
very same bytes and headers at the second, whose own memory never saw them.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from gateway.api import pb
from gateway.crypto.signatures import load_signing_key
from gateway.identify.request_signing import sign_request
from tests.live_gateway import LiveGateway
from tests.support import KEYS

METHODS = [f"/{s.full_name}/{m.name}" for s in pb.DESCRIPTOR.services_by_name.values()
           for m in s.methods]
STREAMING = {f"/{s.full_name}/{m.name}" for s in pb.DESCRIPTOR.services_by_name.values()
             for m in s.methods if m.server_streaming}
# QuerySubject remembers its digest in the transaction of its allow entry: a replay is
# refused there, before anything leaves (tests/services/test_request_signing.py and
# tests/cli/test_serve_workers.py send it a request that is served).
AT_THE_ALLOW_ENTRY = {"/credgate.v1.QueryService/QuerySubject"}
PARTY = "court"


def _call(live: LiveGateway, method: str, headers: list[tuple[str, str]]) -> grpc.StatusCode:
    channel = live.client(PARTY).raw_channel
    call = (channel.unary_stream if method in STREAMING else channel.unary_unary)(method)
    try:
        # A watch stream stays open: a short deadline ends it once it has answered.
        reply = call(b"", metadata=headers, timeout=2 if method in STREAMING else 10)
        if method in STREAMING:
            list(reply)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def test_every_method_refuses_a_request_served_at_another_instance(
        live_factory: Callable[..., LiveGateway]) -> None:
    first = live_factory(subdir="one")
    second = live_factory(subdir="one")
    key = load_signing_key(KEYS / "parties" / f"{PARTY}.sign.key")
    tried = 0
    for method in METHODS:
        if method in AT_THE_ALLOW_ENTRY:
            continue
        headers = sign_request(key, method, b"", party=PARTY, now=first.gw.clock.now())
        assert _call(first, method, headers) != grpc.StatusCode.UNAUTHENTICATED, method
        before = second.gw.audit.size()
        assert _call(second, method, headers) == grpc.StatusCode.UNAUTHENTICATED, method
        [(_, entry)] = second.gw.audit.read(start=before + 1, limit=10)
        assert (entry.decision, entry.reason) == ("deny", "request_replayed"), method
        tried += 1
    assert tried == len(METHODS) - len(AT_THE_ALLOW_ENTRY)
