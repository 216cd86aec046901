"""ObjectionService: the person objects (portal), the provider answers, regulators watch."""

from __future__ import annotations

from datetime import date

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.clock import city_today, local_date, rfc3339
from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.fields import FieldCipher
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.peers.ask import askers_of
from gateway.peers.objections import forward_objection, settle_answered
from gateway.pii.identifiers import check_identifier
from gateway.policy.conditions import ConditionContext
from gateway.records import changes
from gateway.records.intake import seal_submission
from gateway.records.lifecycle import in_use
from gateway.records.lifecycle_rows import ANSWERED, CORRECTED, OPEN, ObjectionRow
from gateway.records.model import StoredRecord
from gateway.records.objections import (
    MAX_REASON_CHARS,
    OUTCOME_NAMES,
    is_overdue,
    new_objection,
    open_text,
    seal_text,
)
from gateway.services.common import CallFrame, audited
from gateway.services.intake_rules import check_intake_rules
from gateway.services.person import (
    PROVIDER_PURPOSE,
    SUPERVISION_PURPOSE,
    is_portal,
    is_provider,
    is_regulator,
    page_limit,
    persons_record,
    portal_person,
    status_filter,
)
from gateway.validate.requests import (
    RawRecord,
    check_free_text,
    validate_record,
)

SUBMIT_ACTION = "submit"


def objection_message(row: ObjectionRow, *, today: date, cipher: FieldCipher | None
                      ) -> pb.Objection:
    """The wire form; the texts only when a cipher is given (person and provider)."""
    msg = pb.Objection(
        objection_id=row.objection_id, record_id=row.record_id, category=row.category,
        provider=row.provider, filed_at=row.filed_at, due_date=row.due_date,
        status=row.status, outcome=row.outcome, answered_at=row.answered_at or "",
        new_record_id=row.new_record_id, overdue=is_overdue(row, today))
    if cipher is not None:
        msg.reason = open_text(cipher, row.objection_id, "reason", row.reason_ciphertext)
        msg.answer_note = open_text(cipher, row.objection_id, "answer", row.answer_ciphertext)
    return msg


def seal_correction(call: CallFrame, party: Party, record: StoredRecord,
                    correction: pb.Record) -> StoredRecord:
    """Validate a corrected version of `record` as a submission of its provider and seal it.

    Raises InvalidArgument (bad record, other category or person, same source id) or
    PermissionDenied (the provider may no longer submit the category).
    """
    gw = call.gw
    now = gw.clock.now()
    raw = RawRecord(subject_id=correction.subject_id, category=correction.category,
                    severity=correction.severity, event_date=correction.event_date,
                    fields=dict(correction.fields), source_record_id=correction.source_record_id,
                    domain=correction.domain, occupation=correction.occupation,
                    county=correction.county)
    sub = validate_record(raw, index=0, provider=party, catalogue=call.catalogue,
                          today=local_date(now))
    if sub.category != record.category:
        raise InvalidArgument("the correction must keep the record's category")
    check_intake_rules(call, [sub], party.id)
    if record.subject_index not in blind_indexes(gw.keyring, sub.subject.value):
        raise InvalidArgument("the correction must concern the same person")
    if sub.source_record_id == record.source_record_id:
        raise InvalidArgument("the correction needs a new source_record_id")
    # A correction answers an objection: it may narrow what the record says, never
    # bring an expired record back or make it run longer.
    if not in_use(record, local_date(now)):
        raise FailedPrecondition("the record is no longer shown or used: withdraw it "
                                 "instead of correcting it", reason="record_not_in_use")
    if sub.event_date > record.event_date:
        raise InvalidArgument("the correction cannot move the event later")
    ctx = ConditionContext(consent_presented=False, subject_age=None, now=now)
    decision = call.policy.decide(party.id, sub.category, SUBMIT_ACTION, PROVIDER_PURPOSE, ctx)
    if decision.rule is not None:
        call.draft.policy_rules.append(str(decision.rule))
    if not decision.allowed:
        raise PermissionDenied(f"policy does not allow {party.id} to submit {sub.category}",
                               reason="policy_denied")
    corrected = seal_submission(sub, provider=party.id, catalogue=call.catalogue,
                                keyring=gw.keyring, cipher=gw.cipher, now=now,
                                replaces=record.record_id)
    if record.display_end is not None and (corrected.display_end is None
                                           or corrected.display_end > record.display_end):
        raise InvalidArgument("the correction cannot lengthen the display period")
    return corrected


class ObjectionServicer(rpc.ObjectionServiceServicer):
    """FileObjection, ListObjections, AnswerObjection; every call audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("objection.file")
    def FileObjection(self, call: CallFrame, request: pb.FileObjectionRequest,
                      context: grpc.ServicerContext) -> pb.ObjectionReply:
        """The person objects to one of their records; it is marked disputed at once."""
        gw = self._gw
        # 1. identify, decide (the portal only), validate, consent: the person.
        party = call.identify(context)
        person = portal_person(call, party, request.subject_id, request.consent_id)
        with call.step("validate"):
            reason = check_free_text(request.reason, what="reason",
                                     max_chars=MAX_REASON_CHARS)
        # 5. fetch: one of this person's records, in use and not already contested.
        with call.step("fetch"):
            record = persons_record(call, person, request.record_id)
            if record.disputed:
                raise FailedPrecondition("an objection to this record is already open",
                                         reason="objection_open")
            if record.origin:  # only its origin answers for a received record
                return self._forward(call, person.subject.value, record, reason)
            row = new_objection(record, reason=reason, catalogue=call.catalogue,
                                cipher=gw.cipher, now=gw.clock.now())
        # 7. store and audit (the reason never enters it): the objection is staged, and
        # filed by its allow entry (gateway.records.changes).
        call.stage(changes.file_objection(row))
        seq = call.commit_allow(reason=f"objection {row.objection_id} to "
                                       f"{record.record_id}")
        return pb.ObjectionReply(objection=objection_message(
            row, today=city_today(gw.clock), cipher=gw.cipher), audit_seq=seq)

    def _forward(self, call: CallFrame, subject_id: str, record: StoredRecord,
                 reason: str) -> pb.ObjectionReply:
        """File the objection at the received record's origin, then keep it here; the
        audit entry (before the person's ID and reason leave) names the origin."""
        gw = self._gw
        if not in_use(record, city_today(gw.clock)):
            raise FailedPrecondition("the record is no longer shown or used",
                                     reason="record_not_in_use")
        seq = call.commit_allow(reason=f"objection to {record.record_id} forwarded to "
                                       f"{record.origin}")
        with call.step("forward"):
            row = forward_objection(askers_of(gw.peer_askers).links, record,
                                    subject_id=subject_id, reason=reason,
                                    cipher=gw.cipher, now=gw.clock.now())
        with call.step("store"):
            gw.store.put_forwarded_objection(row)
        return pb.ObjectionReply(objection=objection_message(
            row, today=city_today(gw.clock), cipher=gw.cipher), audit_seq=seq)

    @audited("objection.list")
    def ListObjections(self, call: CallFrame, request: pb.ListObjectionsRequest,
                       context: grpc.ServicerContext) -> pb.ListObjectionsResponse:
        """The person's own, a provider's (with texts) or, for regulators, every objection."""
        gw = self._gw
        party = call.identify(context)
        today = city_today(gw.clock)
        with call.step("validate"):
            status = status_filter(request.status, (OPEN, ANSWERED))
            if request.overdue_only:
                status = OPEN
            due_before = today.isoformat() if request.overdue_only else None
            limit = page_limit(request.limit)
        cipher: FieldCipher | None = gw.cipher
        provider: str | None = None
        indexes: tuple[str, ...] = ()
        scope: frozenset[str] | None = None
        if is_portal(party):
            person = portal_person(call, party, request.subject_id, request.consent_id)
            indexes, scope = person.indexes, person.categories
        else:
            with call.step("decide"):
                if is_regulator(party):
                    call.draft.purpose, cipher = SUPERVISION_PURPOSE, None
                elif is_provider(call.catalogue, party):
                    call.draft.purpose, provider = PROVIDER_PURPOSE, party.id
                else:
                    raise PermissionDenied("objections are listed for the person, the "
                                           "providing department and regulators",
                                           reason="not_allowed")
        if indexes:  # the person's objections forwarded to an origin: its answers
            with call.step("forwarded"):
                settle_answered(askers_of(gw.peer_askers).links, gw.store, gw.cipher, [
                    r for r in gw.store.list_objections(subject_indexes=indexes, status=OPEN)
                    if r.origin_objection_id])
        with call.step("fetch"):
            rows = gw.store.list_objections(provider=provider, subject_indexes=indexes,
                                            status=status, due_before=due_before,
                                            limit=limit)
            if scope is not None:  # the person's consent names these categories only
                rows = [r for r in rows if r.category in scope]
            call.draft.record_count = len(rows)
            call.draft.categories = tuple(sorted({r.category for r in rows}))
        seq = call.commit_allow()
        return pb.ListObjectionsResponse(
            objections=[objection_message(r, today=today, cipher=cipher) for r in rows],
            audit_seq=seq)

    @audited("objection.answer")
    def AnswerObjection(self, call: CallFrame, request: pb.AnswerObjectionRequest,
                        context: grpc.ServicerContext) -> pb.ObjectionReply:
        """The providing department upholds, corrects or withdraws the contested record."""
        gw = self._gw
        party = call.identify(context)
        call.draft.purpose = PROVIDER_PURPOSE
        with call.step("validate"):
            objection_id = check_identifier(request.objection_id, what="objection_id")
            outcome = OUTCOME_NAMES.get(request.outcome)
            if outcome is None:
                raise InvalidArgument("outcome must be uphold, correct or withdraw")
            note = check_free_text(request.note, what="note", required=False)
            if (outcome == CORRECTED) != request.HasField("correction"):
                raise InvalidArgument("a correction, and only a correction, carries the "
                                      "corrected record")
        # 3. decide: only the department that provided the record answers.
        with call.step("decide"):
            row = gw.store.get_objection(objection_id)
            if row is None or row.provider != party.id:
                raise PermissionDenied("no objection with this id concerns the caller's "
                                       "records", reason="not_provider")
            category = call.catalogue.categories.get(row.category)
            if category is None or party.id not in category.providers:
                # As for repairs: the running catalogue must still give the remit.
                raise PermissionDenied("the catalogue no longer names the caller as a "
                                       "provider of this category", reason="not_provider")
            call.draft.subject_index = row.subject_index
            call.draft.categories = (row.category,)
            call.draft.record_count = 1
            if row.status != OPEN:
                raise FailedPrecondition("the objection has been answered",
                                         reason="objection_answered")
            correction = None
            if outcome == CORRECTED:
                record = gw.store.get_record(row.record_id)
                if record is None:
                    raise FailedPrecondition("the record is missing")
                correction = seal_correction(call, party, record, request.correction)
        now = gw.clock.now()
        new = f" by {correction.record_id}" if correction else ""
        # Staged (a correction pending with it), and made by the allow entry.
        answered = call.stage(changes.answer_objection(
            row, outcome=outcome, at=rfc3339(now), by=party.id,
            answer_ciphertext=seal_text(gw.cipher, objection_id, "answer", note)
            if note else b"", correction=correction))
        seq = call.commit_allow(reason=f"objection {objection_id} {outcome}{new}")
        return pb.ObjectionReply(objection=objection_message(
            answered, today=local_date(now), cipher=gw.cipher), audit_seq=seq)

