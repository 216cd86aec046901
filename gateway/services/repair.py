"""RepairService: the person applies for credit repair (portal); the approver decides."""

from __future__ import annotations

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Catalogue, Party
from gateway.clock import city_today, rfc3339
from gateway.crypto.fields import FieldCipher
from gateway.errors import FailedPrecondition, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.records import changes
from gateway.records.lifecycle import ACTIVE
from gateway.records.lifecycle_rows import APPROVED, PENDING, REJECTED, RepairRow
from gateway.records.repair import (
    MAX_STATEMENT_CHARS,
    OBJECTION_OPEN_MESSAGE,
    new_repair,
    open_text,
    seal_text,
)
from gateway.records.repair_evidence import cited_evidence, pack_statement, unpack_statement
from gateway.services.common import CallFrame, audited
from gateway.services.person import (
    PROVIDER_PURPOSE,
    SUPERVISION_PURPOSE,
    is_portal,
    is_regulator,
    page_limit,
    persons_record,
    portal_person,
    status_filter,
)
from gateway.validate.requests import check_free_text


def repair_message(row: RepairRow, cipher: FieldCipher | None) -> pb.RepairApplication:
    """The wire form; the texts only when a cipher is given (person and approver)."""
    msg = pb.RepairApplication(
        repair_id=row.repair_id, record_id=row.record_id, category=row.category,
        provider=row.provider, approver=row.approver, applied_at=row.applied_at,
        status=row.status, decided_at=row.decided_at or "")
    if cipher is not None:
        statement, evidence = unpack_statement(
            open_text(cipher, row.repair_id, "statement", row.statement_ciphertext))
        msg.statement = statement
        for e in evidence:
            msg.evidence.add(record_id=e.record_id, category=e.category,
                             event_date=e.event_date)
        msg.decision_reason = open_text(cipher, row.repair_id, "decision",
                                        row.decision_ciphertext)
    return msg


def approvers(catalogue: Catalogue) -> frozenset[str]:
    """Every party that decides repairs of some category."""
    out: set[str] = set()
    for cat in catalogue.categories.values():
        if cat.repair is not None:
            out |= {cat.repair.approver_for(p) for p in cat.providers}
    return frozenset(out)


class RepairServicer(rpc.RepairServiceServicer):
    """ApplyRepair, ListRepairs, DecideRepair; every call audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("repair.apply")
    def ApplyRepair(self, call: CallFrame, request: pb.ApplyRepairRequest,
                    context: grpc.ServicerContext) -> pb.RepairReply:
        """The person applies, after the record's minimum display period, for its repair."""
        gw = self._gw
        party = call.identify(context)
        person = portal_person(call, party, request.subject_id, request.consent_id)
        with call.step("validate"):
            statement = check_free_text(request.statement, what="statement",
                                        max_chars=MAX_STATEMENT_CHARS)
        with call.step("fetch"):
            record = persons_record(call, person, request.record_id)
            evidence = cited_evidence(
                list(request.evidence_record_ids), subject=person.subject,
                catalogue=call.catalogue, store=gw.store, keyring=gw.keyring,
                today=city_today(gw.clock))
            # Each cited record is one the consent must cover too (item 9 of issue 10:
            # the portal acts within the categories the person's consent names).
            call.draft.categories = tuple(dict.fromkeys(
                [record.category, *(e.category for e in evidence)]))
            for cited in evidence:
                person.check_scope(cited.category)
            row = new_repair(record, statement=pack_statement(statement, evidence),
                             catalogue=call.catalogue, cipher=gw.cipher,
                             now=gw.clock.now())
        # Staged, and filed by the allow entry (gateway.records.changes).
        call.stage(changes.apply_repair(row))
        seq = call.commit_allow(reason=f"repair {row.repair_id} of {record.record_id}")
        return pb.RepairReply(repair=repair_message(row, gw.cipher), audit_seq=seq)

    @audited("repair.list")
    def ListRepairs(self, call: CallFrame, request: pb.ListRepairsRequest,
                    context: grpc.ServicerContext) -> pb.ListRepairsResponse:
        """The person's own, an approver's (with texts) or, for regulators, every one."""
        gw = self._gw
        party = call.identify(context)
        with call.step("validate"):
            status = status_filter(request.status, (PENDING, APPROVED, REJECTED))
            limit = page_limit(request.limit)
        cipher: FieldCipher | None = gw.cipher
        approver: str | None = None
        indexes: tuple[str, ...] = ()
        scope: frozenset[str] | None = None
        if is_portal(party):
            person = portal_person(call, party, request.subject_id, request.consent_id)
            indexes, scope = person.indexes, person.categories
        else:
            with call.step("decide"):
                if is_regulator(party):
                    call.draft.purpose, cipher = SUPERVISION_PURPOSE, None
                elif party.id in approvers(call.catalogue):
                    call.draft.purpose, approver = PROVIDER_PURPOSE, party.id
                else:
                    raise PermissionDenied("repairs are listed for the person, the "
                                           "deciding department and regulators",
                                           reason="not_allowed")
        with call.step("fetch"):
            rows = gw.store.list_repairs(approver=approver, subject_indexes=indexes,
                                         status=status, limit=limit)
            if scope is not None:  # the person's consent names these categories only
                rows = [r for r in rows if r.category in scope]
            call.draft.record_count = len(rows)
            call.draft.categories = tuple(sorted({r.category for r in rows}))
        seq = call.commit_allow()
        return pb.ListRepairsResponse(repairs=[repair_message(r, cipher) for r in rows],
                                      audit_seq=seq)

    @audited("repair.decide")
    def DecideRepair(self, call: CallFrame, request: pb.DecideRepairRequest,
                     context: grpc.ServicerContext) -> pb.RepairReply:
        """The approver approves (the record leaves use) or rejects, with a reason."""
        gw = self._gw
        party = call.identify(context)
        call.draft.purpose = PROVIDER_PURPOSE
        with call.step("validate"):
            repair_id = check_identifier(request.repair_id, what="repair_id")
            reason = check_free_text(request.reason, what="reason")
        with call.step("decide"):
            row = gw.store.get_repair(repair_id)
            if row is None or row.approver != party.id:
                raise PermissionDenied("no repair application with this id is for the "
                                       "caller to decide", reason="not_approver")
            _may_decide(call.catalogue, party, row)
            call.draft.subject_index = row.subject_index
            call.draft.categories = (row.category,)
            call.draft.record_count = 1
            if row.status != PENDING:
                raise FailedPrecondition("the application has been decided",
                                         reason="repair_decided")
            record = gw.store.get_record(row.record_id)
            if request.approve and (record is None or record.state != ACTIVE):
                # Corrected, withdrawn or removed meanwhile: refused before any entry
                # says it was approved.
                raise FailedPrecondition("the record is no longer in use",
                                         reason="record_not_active")
            if request.approve and record is not None and record.disputed:
                raise FailedPrecondition(OBJECTION_OPEN_MESSAGE, reason="objection_open")
        now = gw.clock.now()
        verdict = APPROVED if request.approve else REJECTED
        # Staged, and made by the allow entry (gateway.records.changes).
        decided = call.stage(changes.decide_repair(
            row, approve=request.approve, at=rfc3339(now), by=party.id,
            decision_ciphertext=seal_text(gw.cipher, repair_id, "decision", reason)))
        seq = call.commit_allow(reason=f"repair {repair_id} {verdict}")
        return pb.RepairReply(repair=repair_message(decided, gw.cipher), audit_seq=seq)


def _may_decide(catalogue: Catalogue, party: Party, row: RepairRow) -> None:
    """The running catalogue must still name the caller as the approver."""
    category = catalogue.categories.get(row.category)
    if category is None or category.repair is None \
            or category.repair.approver_for(row.provider) != party.id:
        raise PermissionDenied("the catalogue no longer names the caller as the approver",
                               reason="not_approver")

