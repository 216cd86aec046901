"""RecordService: departments submit records within their legal remit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.clock import local_date
from gateway.errors import CredgateError, PermissionDenied
from gateway.policy.conditions import ConditionContext
from gateway.records.answered_once import answer_changes
from gateway.records.intake import seal_submission, with_earlier_digest
from gateway.records.model import PutResult, StoredRecord
from gateway.services.common import CallFrame, audited
from gateway.services.intake_rules import check_intake_rules
from gateway.telemetry import trace_id_of
from gateway.validate.requests import RawRecord, validate_batch

log = logging.getLogger("credgate.records")

SUBMIT_ACTION = "submit"
SUBMIT_PURPOSE = "submission"


def store_pending(call: CallFrame, sealed: Sequence[StoredRecord],
                  now: datetime) -> list[PutResult]:
    """Store a submission's records pending for the call's request (never shown yet).

    An answer to a record answered once (an extension application, a complaint) is
    staged too, taking the answered record until the allow entry makes the answer live
    (gateway.records.answered_once): of two calls answering at once, one answer stands.
    Raises FailedPrecondition then.
    """
    with call.step("store"):
        results = call.gw.store.put_records(sealed, pending_for=call.draft.request_id,
                                            at=now)
    for change in answer_changes(sealed, [r.record_id for r in results]):
        call.stage(change)
    return results


def activate_after_allow(call: CallFrame, results: Sequence[PutResult]) -> None:
    """The allow entry committed: the submission's records go live.

    The submission is decided and durable at this point, so a store fault here does not
    fail the call (that would log a deny after the allow): the sweeper activates the
    records from the allow entry (gateway.consent.uses.OutcomeSweeper).
    """
    with call.step("activate"):
        try:
            call.gw.store.activate_pending([r.record_id for r in results])
        except CredgateError as err:
            log.warning("submitted records stay pending until the sweeper activates "
                        "them: %s [trace %s]", err.reason or err.status,
                        trace_id_of(call.span))


def accept_batch(call: CallFrame, party: Party, raws: Sequence[RawRecord],
                 now: datetime) -> list[StoredRecord]:
    """validate (every record, with the catalogue's remit for this provider, and the
    intake rules) and decide (policy must allow the provider to submit each category),
    then seal; raises InvalidArgument, PermissionDenied or FailedPrecondition. Every
    path that stores a party's records on its behalf goes through it."""
    gw = call.gw
    draft = call.draft
    with call.step("validate"):
        batch = validate_batch(raws, provider=party, catalogue=call.catalogue,
                               today=local_date(now))
        draft.categories = tuple(sorted({r.category for r in batch}))
        draft.record_count = len(batch)
        check_intake_rules(call, batch, party.id)
    with call.step("decide"):
        ctx = ConditionContext(consent_presented=False, subject_age=None, now=now)
        for record in batch:
            decision = call.policy.decide(party.id, record.category, SUBMIT_ACTION,
                                          SUBMIT_PURPOSE, ctx)
            if decision.rule is not None:
                draft.policy_rules.append(str(decision.rule))
            if not decision.allowed:
                raise PermissionDenied(
                    f"record {record.index}: policy does not allow {party.id} to "
                    f"submit {record.category}", reason="policy_denied")
        sealed = [seal_submission(r, provider=party.id, catalogue=call.catalogue,
                                  keyring=gw.keyring, cipher=gw.cipher, now=now)
                  for r in batch]
        if len(gw.keyring.index_keys) > 1:  # an index-key rotation is under way
            sealed = [with_earlier_digest(gw.store, gw.keyring, rec, sub)
                      for rec, sub in zip(sealed, batch, strict=True)]
    return sealed


class RecordServicer(rpc.RecordServiceServicer):
    """SubmitRecords: identify, validate, decide, audit, store, respond."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("records.submit")
    def SubmitRecords(self, call: CallFrame, request: pb.SubmitRecordsRequest,
                      context: grpc.ServicerContext) -> pb.SubmitRecordsResponse:
        """Store a batch atomically; one bad record refuses the whole batch."""
        gw = self._gw
        draft = call.draft
        draft.purpose = SUBMIT_PURPOSE
        # 1. identify: the certificate's party, which signed this very request.
        party = call.identify(context)
        now = gw.clock.now()
        raws = [
            RawRecord(subject_id=r.subject_id, category=r.category,
                      severity=r.severity, event_date=r.event_date,
                      fields=dict(r.fields), source_record_id=r.source_record_id,
                      domain=r.domain, occupation=r.occupation, county=r.county)
            for r in request.records
        ]
        # 2. validate and 3. decide (accept_batch).
        sealed = accept_batch(call, party, raws, now)
        # 7. store, pending, then audit: the records and their allow entry commit
        # together (the entry is the commit point; gateway.records.lifecycle).
        results = store_pending(call, sealed, now)
        seq = call.commit_allow()
        activate_after_allow(call, results)
        # 8. respond
        with call.step("respond"):
            return pb.SubmitRecordsResponse(
                results=[pb.SubmittedRecord(index=r.index, record_id=r.record_id,
                                            created=r.created) for r in results],
                audit_seq=seq,
            )
