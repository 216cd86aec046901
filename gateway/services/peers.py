"""PeerService: a peer platform pushes the changes of the records it shares with us."""

from __future__ import annotations

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.sharing import PLATFORM_ROLE
from gateway.errors import PermissionDenied
from gateway.peers.receive import received_changes
from gateway.pii.identifiers import check_identifier
from gateway.services.common import CallFrame, audited


class PeerServicer(rpc.PeerServiceServicer):
    """PushChanges: identify, decide, validate, audit, store, respond (signed)."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("peer.receive")
    def PushChanges(self, call: CallFrame, request: pb.PushChangesRequest,
                    context: grpc.ServicerContext) -> pb.PushChangesResponse:
        """Store a peer's changes read-only with their origin, each once and in order."""
        gw = self._gw
        draft = call.draft
        # 1. identify: a peer platform's own certificate, and its signature on this push.
        party = call.identify(context, request)
        # 3. decide (before the body is read): what sharing.toml takes from this peer.
        with call.step("decide"):
            rule = call.catalogue.sharing.get(party.id)
            if PLATFORM_ROLE not in party.roles or rule is None or not rule.receive:
                raise PermissionDenied("this platform takes no records from the caller",
                                       reason="not_a_sharing_peer")
            draft.purpose = rule.purpose
            draft.policy_rules.append(f"sharing.toml {party.id} receive")
        # 2. validate and seal: every change, or none.
        with call.step("validate"):
            # Both sides' audit entries carry the sender's batch id.
            draft.request_id = check_identifier(request.batch_id, what="batch_id")
            changes = received_changes(request.changes, origin=party.id, rule=rule,
                                       catalogue=call.catalogue, keyring=gw.keyring,
                                       now=gw.clock.now())
            draft.categories = tuple(sorted({c.category for c in request.changes
                                             if c.category}))
            draft.record_count = len(changes)
        # 7. audit: the push is durable evidence before anything is stored.
        seq = call.commit_allow(f"from {party.id}")
        with call.step("store"):
            applied = gw.store.apply_received(party.id, changes)
        # 8. respond, signed: the sender keeps this signature in its own audit.
        with call.step("respond"):
            response = pb.PushChangesResponse(applied=applied, skipped=len(changes) - applied,
                                              audit_seq=seq)
        call.sign(response)
        return response
