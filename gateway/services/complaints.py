"""ComplaintService: the regulator lists complaints about accesses (投诉) and answers them.

Complaints are filed by the person through the citizen portal as `access_complaint`
records (SubmitRecords, checked at intake to name an access in their own access report).
The regulator lists them (due dates, the party complained about, the reason) and
answers each; the answer is stored as a `complaint_answer` record of the complainant,
built by the gateway, so the regulator never handles the person's ID number.
"""

from __future__ import annotations

import uuid

import grpc
from google.protobuf.message import Message

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import city_today
from gateway.errors import InvalidArgument, NotFound, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import parse_id_number
from gateway.protect.release import field_value
from gateway.records.answered_once import check_answered_once
from gateway.records.complaints import (
    ANSWER,
    COMPLAINT,
    ReadEntry,
    complaint_statuses,
)
from gateway.records.intake import open_subject, seal_submission
from gateway.records.lifecycle import in_use
from gateway.records.model import RecordSubmission
from gateway.services.common import CallFrame, audited
from gateway.services.person import SUPERVISION_PURPOSE, is_regulator
from gateway.services.records import activate_after_allow, store_pending
from gateway.validate.requests import check_free_text

OUTCOMES = {"upheld": "投诉成立", "dismissed": "投诉不成立"}


def _regulator(call: CallFrame, context: grpc.ServicerContext, request: Message) -> str:
    party = call.identify(context)
    call.draft.purpose = SUPERVISION_PURPOSE
    with call.step("decide"):
        if not is_regulator(party):
            raise PermissionDenied("only a regulator handles complaints",
                                   reason="not_regulator")
    return party.id


class ComplaintServicer(rpc.ComplaintServiceServicer):
    """ListComplaints and AnswerComplaint, for regulators; every call audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("complaint.list")
    def ListComplaints(self, call: CallFrame, request: pb.ListComplaintsRequest,
                       context: grpc.ServicerContext) -> pb.ListComplaintsResponse:
        """Every complaint in use, with its due date and the party complained about."""
        gw = self._gw
        _regulator(call, context, request)
        with call.step("fetch"):
            today = city_today(gw.clock)
            statuses = complaint_statuses(
                gw.store, ReadEntry(gw.audit.read),
                answer_days=call.catalogue.lifecycle.complaint_answer_days)
            out = []
            for s in statuses:
                record = gw.store.get_record(s.record_id)
                if record is None or not in_use(record, today):
                    continue
                out.append(pb.Complaint(
                    complaint_id=s.record_id, filed_on=s.filed_on.isoformat(),
                    due_on=s.due_on.isoformat(), overdue=s.overdue(today),
                    audit_seq=s.audit_seq, party=s.party, outcome=s.outcome,
                    reason=field_value(record, "reason", gw.cipher)))
            call.draft.categories = (COMPLAINT,)
            call.draft.record_count = len(out)
        seq = call.commit_allow()
        return pb.ListComplaintsResponse(complaints=out, audit_seq=seq)

    @audited("complaint.answer")
    def AnswerComplaint(self, call: CallFrame, request: pb.AnswerComplaintRequest,
                        context: grpc.ServicerContext) -> pb.AnswerComplaintResponse:
        """Record the regulator's answer to a complaint, for the person to see."""
        gw = self._gw
        regulator = _regulator(call, context, request)
        with call.step("validate"):
            complaint_id = check_identifier(request.complaint_id, what="complaint_id")
            if request.outcome not in OUTCOMES:
                raise InvalidArgument("outcome must be upheld or dismissed")
            note = check_free_text(request.note, what="note", max_chars=1000,
                                   required=False)
        with call.step("decide"):
            complaint = gw.store.get_record(complaint_id)
            today = city_today(gw.clock)
            if complaint is None or complaint.category != COMPLAINT \
                    or not in_use(complaint, today):
                raise NotFound("no complaint with this id", reason="complaint_unknown")
            call.draft.subject_index = complaint.subject_index
            call.draft.categories = (ANSWER,)
            call.draft.record_count = 1
            subject = parse_id_number(open_subject(complaint, gw.cipher), today=today)
            submission = RecordSubmission(
                index=0, subject=subject, category=ANSWER, severity="not_applicable",
                event_date=today,
                fields={"complaint_record_id": complaint_id, "outcome": request.outcome,
                        "note": note or OUTCOMES[request.outcome]},
                source_record_id=f"answer-{uuid.uuid4()}")
            # Answered once, as through SubmitRecords (the store's change decides a race).
            check_answered_once([submission], provider=regulator, store=gw.store,
                                keyring=gw.keyring, today=today)
            answer = seal_submission(submission, provider=regulator,
                                     catalogue=call.catalogue, keyring=gw.keyring,
                                     cipher=gw.cipher, now=gw.clock.now())
        stored = store_pending(call, [answer], gw.clock.now())
        seq = call.commit_allow(reason=f"complaint {complaint_id} {request.outcome}")
        activate_after_allow(call, stored)
        return pb.AnswerComplaintResponse(answer_record_id=answer.record_id,
                                          audit_seq=seq)
