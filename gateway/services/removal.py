"""RemovalService: a provider removes a record shown until removal (a court lifting a listing)."""

from __future__ import annotations

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import rfc3339
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.records.changes import remove_record
from gateway.records.lifecycle import ACTIVE, REMOVAL_REASONS, removable
from gateway.records.repair import OBJECTION_OPEN_MESSAGE
from gateway.services.common import CallFrame, audited
from gateway.services.person import PROVIDER_PURPOSE
from gateway.services.revise import revise_record
from gateway.validate.requests import MAX_SOURCE_ID_CHARS


class RemovalServicer(rpc.RemovalServiceServicer):
    """RemoveRecord: identify, validate, decide (own record, removable), store, audit."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("record.remove")
    def RemoveRecord(self, call: CallFrame, request: pb.RemoveRecordRequest,
                     context: grpc.ServicerContext) -> pb.RemoveRecordResponse:
        """Take the record out of use (kept as evidence); other records end otherwise."""
        gw = self._gw
        party = call.identify(context)
        call.draft.purpose = PROVIDER_PURPOSE
        with call.step("validate"):
            if request.reason not in REMOVAL_REASONS:
                raise InvalidArgument("reason must be one of "
                                      + ", ".join(REMOVAL_REASONS))
            if bool(request.record_id) == bool(request.source_record_id):
                raise InvalidArgument("name the record by record_id or by "
                                      "source_record_id")
            if request.record_id:
                check_identifier(request.record_id, what="record_id")
            else:
                check_identifier(request.source_record_id, what="source_record_id",
                                 max_chars=MAX_SOURCE_ID_CHARS, document=True)
        # 3. decide: only the provider, only records shown until their removal.
        with call.step("decide"):
            record = (gw.store.get_record(request.record_id) if request.record_id else
                      gw.store.find_record_by_source(party.id, request.source_record_id))
            if record is None or record.provider != party.id:
                raise PermissionDenied("no record with this id was provided by the caller",
                                       reason="not_provider")
            call.draft.subject_index = record.subject_index
            call.draft.categories = (record.category,)
            call.draft.record_count = 1
            category = call.catalogue.categories[record.category]
            if not removable(category, record):
                raise FailedPrecondition(
                    "only records shown until their provider removes them can be removed; "
                    "others end with their display period, a repair or an objection",
                    reason="not_removable")
            if record.state != ACTIVE:
                raise FailedPrecondition("the record is no longer in use",
                                         reason="record_not_active")
            if record.disputed:
                raise FailedPrecondition(OBJECTION_OPEN_MESSAGE, reason="objection_open")
        now = rfc3339(gw.clock.now())
        # 7. store and audit: the removal is staged, and made by its allow entry
        # (gateway.records.changes).
        call.stage(remove_record(record.record_id, at=now, reason=request.reason))
        seq = call.commit_allow(reason=f"record {record.record_id} removed: "
                                       f"{request.reason}")
        return pb.RemoveRecordResponse(record_id=record.record_id, removed_at=now,
                                       audit_seq=seq)

    @audited("record.revise")
    def ReviseRecord(self, call: CallFrame, request: pb.ReviseRecordRequest,
                     context: grpc.ServicerContext) -> pb.ReviseRecordResponse:
        """The provider corrects or withdraws its own record, with a reason code."""
        return revise_record(call, context, request)
