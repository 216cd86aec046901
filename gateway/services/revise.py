"""A providing department keeps its own records current: it corrects or withdraws them.

「建立和完善信用记录形成和动态更新机制」. A record entered in error, revoked on review
or changed by a court is corrected (a new version supersedes it) or withdrawn by the
department that provided it, with a reason code of the catalogue ([revision_reasons],
each with its Chinese name and legal basis). The old version stays in the store as
evidence (its state says superseded or withdrawn, and why), and the change is audited.
A record under an open objection changes only through the objection's answer.
"""

from __future__ import annotations

import grpc

from gateway.api import pb
from gateway.clock import rfc3339
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.records import changes
from gateway.records.lifecycle import ACTIVE
from gateway.records.repair import OBJECTION_OPEN_MESSAGE
from gateway.services.common import CallFrame
from gateway.services.objections import seal_correction
from gateway.services.person import PROVIDER_PURPOSE
from gateway.validate.requests import MAX_SOURCE_ID_CHARS


def revise_record(call: CallFrame, context: grpc.ServicerContext,
                  request: pb.ReviseRecordRequest) -> pb.ReviseRecordResponse:
    """Correct (with `correction`) or withdraw (without) one of the caller's own records."""
    gw = call.gw
    party = call.identify(context)
    call.draft.purpose = PROVIDER_PURPOSE
    with call.step("validate"):
        reasons = call.catalogue.lifecycle.revision_reasons
        if request.reason not in reasons:
            raise InvalidArgument("reason must be one of " + ", ".join(reasons),
                                  reason="unknown_reason")
        if bool(request.record_id) == bool(request.source_record_id):
            raise InvalidArgument("name the record by record_id or by source_record_id")
        if request.record_id:
            check_identifier(request.record_id, what="record_id")
        elif len(request.source_record_id) > MAX_SOURCE_ID_CHARS:
            raise InvalidArgument("source_record_id is too long")
    with call.step("decide"):
        record = (gw.store.get_record(request.record_id) if request.record_id else
                  gw.store.find_record_by_source(party.id, request.source_record_id))
        if record is None or record.provider != party.id:
            raise PermissionDenied("no record with this id was provided by the caller",
                                   reason="not_provider")
        category = call.catalogue.categories.get(record.category)
        if category is None or party.id not in category.providers:
            raise PermissionDenied("the catalogue no longer names the caller as a provider "
                                   "of this category", reason="not_provider")
        call.draft.subject_index = record.subject_index
        call.draft.categories = (record.category,)
        call.draft.record_count = 1
        if record.state != ACTIVE:
            raise FailedPrecondition("the record is no longer in use",
                                     reason="record_not_active")
        if record.disputed:
            raise FailedPrecondition(OBJECTION_OPEN_MESSAGE, reason="objection_open")
        correction = (seal_correction(call, party, record, request.correction)
                      if request.HasField("correction") else None)
    now = rfc3339(gw.clock.now())
    change = f"corrected by {correction.record_id}" if correction else "withdrawn"
    # Staged (a correction pending with it), and made by the allow entry
    # (gateway.records.changes).
    call.stage(changes.revise_record(record.record_id, at=now, reason=request.reason,
                                     correction=correction))
    seq = call.commit_allow(reason=f"record {record.record_id} {change}: {request.reason}")
    return pb.ReviseRecordResponse(record_id=record.record_id,
                                   new_record_id=correction.record_id if correction else "",
                                   revised_at=now, audit_seq=seq)
