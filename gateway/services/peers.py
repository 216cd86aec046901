"""PeerService: a peer platform pushes the changes of the records it shares with us, and
forwards the objections people file against them at its end (their origin is here)."""

from __future__ import annotations

from dataclasses import replace

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.catalogue.sharing import PLATFORM_ROLE
from gateway.clock import city_today
from gateway.crypto.blind_index import blind_indexes
from gateway.errors import NotFound, PermissionDenied
from gateway.peers.receive import received_changes
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import parse_id_number
from gateway.records.changes import file_objection, receive
from gateway.records.objections import MAX_REASON_CHARS, new_objection
from gateway.services.common import CallFrame, audited
from gateway.services.objections import objection_message
from gateway.validate.requests import check_free_text


def _sharing_peer(call: CallFrame, party: Party) -> None:
    """Only a peer platform this platform shares records with; raises PermissionDenied."""
    with call.step("decide"):
        rule = call.catalogue.sharing.get(party.id)
        if PLATFORM_ROLE not in party.roles or rule is None or not rule.send:
            raise PermissionDenied("this platform shares no records with the caller",
                                   reason="not_a_sharing_peer")
        call.draft.purpose = rule.purpose
        call.draft.policy_rules.append(f"sharing.toml {party.id} send")


def received_request_id(peer: str, batch_id: str) -> str:
    """The request id of a received push: the sender's batch id, named with the sender."""
    return f"{batch_id}.{peer}"


class PeerServicer(rpc.PeerServiceServicer):
    """PushChanges, ForwardObjection, ObjectionStatus: identify, decide, validate, store
    (staged for the allow entry), audit, respond (signed)."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("peer.receive")
    def PushChanges(self, call: CallFrame, request: pb.PushChangesRequest,
                    context: grpc.ServicerContext) -> pb.PushChangesResponse:
        """Store a peer's changes read-only with their origin, each once and in order."""
        gw = self._gw
        draft = call.draft
        # 1. identify: a peer platform's own certificate, and its signature on this push.
        party = call.identify(context)
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
            # Both sides' audit entries carry the sender's batch id; here it is named with
            # the sender, since what the push stages is made by the allow entry of its
            # request id: another peer sending the same batch id must not make it.
            batch_id = check_identifier(request.batch_id, what="batch_id", logged=True)
            draft.request_id = received_request_id(party.id, batch_id)
            changes = received_changes(request.changes, origin=party.id, rule=rule,
                                       catalogue=call.catalogue, keyring=gw.keyring,
                                       cipher=gw.cipher, now=gw.clock.now())
            draft.categories = tuple(sorted({c.category for c in request.changes
                                             if c.category}))
            draft.record_count = len(changes)
        # 7. store and audit: the push is staged (what it will apply, counted), and
        # applied by its allow entry (gateway.records.changes).
        applied = call.stage(receive(party.id, changes))
        seq = call.commit_allow(f"from {party.id}")
        # 8. respond, signed: the sender keeps this signature in its own audit.
        with call.step("respond"):
            response = pb.PushChangesResponse(applied=applied, skipped=len(changes) - applied,
                                              audit_seq=seq)
        call.sign(response)
        return response

    @audited("objection.forwarded")
    def ForwardObjection(self, call: CallFrame, request: pb.ForwardObjectionRequest,
                         context: grpc.ServicerContext) -> pb.ObjectionReply:
        """A person's objection, filed at a peer against a record it received from here:
        filed here, where the record's provider answers it as any objection."""
        gw = self._gw
        party = call.identify(context)
        _sharing_peer(call, party)
        with call.step("validate"):
            record_id = check_identifier(request.record_id, what="record_id")
            subject = parse_id_number(request.subject_id, today=city_today(gw.clock))
            indexes = blind_indexes(gw.keyring, subject.value)
            call.draft.subject_index = indexes[0]
            reason = check_free_text(request.reason, what="reason", max_chars=MAX_REASON_CHARS)
        with call.step("fetch"):
            record = gw.store.get_record(record_id)
            shared = call.catalogue.sharing[party.id].send
            # The same NotFound for absent, someone else's, not sent to the caller, or
            # itself received from elsewhere (only a record's origin answers for it).
            if (record is None or record.subject_index not in indexes or record.origin
                    or record.category not in shared):
                raise NotFound("no record of this person was sent to the caller",
                               reason="record_unknown")
            call.draft.categories = (record.category,)
            call.draft.record_count = 1
            row = replace(new_objection(record, reason=reason, catalogue=call.catalogue,
                                        cipher=gw.cipher, now=gw.clock.now()),
                          forwarded_by=party.id)
        # Staged, and filed by the allow entry (gateway.records.changes).
        call.stage(file_objection(row))
        seq = call.commit_allow(reason=f"objection {row.objection_id} to {record.record_id} "
                                       f"forwarded by {party.id}")
        answer = pb.ObjectionReply(objection=objection_message(
            row, today=city_today(gw.clock), cipher=None), audit_seq=seq)
        call.sign(answer)
        return answer

    @audited("objection.status")
    def ObjectionStatus(self, call: CallFrame, request: pb.ObjectionStatusRequest,
                        context: grpc.ServicerContext) -> pb.ObjectionReply:
        """Where an objection the caller forwarded stands, with the provider's answer."""
        gw = self._gw
        party = call.identify(context)
        _sharing_peer(call, party)
        with call.step("validate"):
            objection_id = check_identifier(request.objection_id, what="objection_id")
        with call.step("fetch"):
            row = gw.store.get_objection(objection_id)
            if row is None or row.forwarded_by != party.id:
                raise NotFound("the caller forwarded no objection with this id",
                               reason="objection_unknown")
            call.draft.subject_index = row.subject_index
            call.draft.categories = (row.category,)
        seq = call.commit_allow(reason=f"objection {row.objection_id}: {row.status}")
        answer = pb.ObjectionReply(objection=objection_message(
            row, today=city_today(gw.clock), cipher=gw.cipher), audit_seq=seq)
        call.sign(answer)
        return answer
