"""AuditService: regulators search, verify and export the log; nothing can change it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import grpc
from google.protobuf.message import Message

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.entry import AuditEntry
from gateway.audit.export import export_range
from gateway.audit.search import AuditFilter
from gateway.audit.tiles import parse_tile, read_tile
from gateway.catalogue.registry import Party
from gateway.clock import city_today, parse_rfc3339, rfc3339
from gateway.crypto.blind_index import blind_indexes
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import parse_id_number
from gateway.services.common import CallFrame, audited, audited_call, audits, method_of
from gateway.services.person import SUPERVISION_PURPOSE, is_regulator
from gateway.supervision.figures import SupervisionReport, supervision_figures

EXPORT_CHUNK = 1 << 20

#: The audit action of an export (its file is sent after the audited call).
EXPORT_ACTION = "audit.export"


def entry_message(seq: int, entry: AuditEntry) -> pb.AuditEntry:
    """The wire form of a logged entry, with its exact canonical bytes."""
    return pb.AuditEntry(
        seq=seq, canonical=entry.canonical_bytes(), time=rfc3339(entry.time),
        requester=entry.requester, action=entry.action, purpose=entry.purpose,
        subject_index=entry.subject_index, decision=entry.decision, reason=entry.reason,
        consent_id=entry.consent_id, categories=entry.categories,
        fields_released=entry.fields_released, policy_rule=entry.policy_rule,
        policy_version=entry.policy_version, trace_id=entry.trace_id,
        request_signature=entry.request_signature)


def checkpoint_message(checkpoint: Checkpoint) -> pb.Checkpoint:
    """The wire form of a signed checkpoint."""
    return pb.Checkpoint(text=checkpoint.note, size=checkpoint.size, root_hash=checkpoint.root)


def figures_message(report: SupervisionReport) -> pb.SupervisionFiguresResponse:
    """The wire form of the supervision figures."""
    reply = pb.SupervisionFiguresResponse(as_of=report.as_of.isoformat())
    for p in report.providers:
        row = reply.departments.add(
            provider=p.provider, name_zh=p.name_zh, records_submitted=p.submitted,
            objections_open=p.open_objections, objections_overdue=p.overdue_objections,
            repairs_granted=p.repairs_granted, repairs_refused=p.repairs_refused,
            published_late=p.published_late)
        if p.median_lag_days is not None:
            row.median_lag_days = float(p.median_lag_days)
        if p.max_lag_days is not None:
            row.max_lag_days = p.max_lag_days
    for q in report.queriers:
        reply.queriers.add(party=q.party, name_zh=q.name_zh, purpose=q.purpose,
                           queries=q.queries, refused=q.refused, complaints=q.complaints,
                           complaints_answered=q.complaints_answered,
                           complaints_overdue=q.complaints_overdue)
    for c in report.counties:
        reply.counties.add(county=c.county, name_zh=c.name_zh, records_submitted=c.submitted,
                           records_in_use=c.in_use, objections_open=c.open_objections,
                           queries=c.queries, refused=c.refused)
    for m in report.mandatory_checks:
        row = reply.mandatory_checks.add(
            department=m.department, name_zh=m.name_zh, purpose=m.purpose,
            purpose_zh=m.purpose_zh, month=m.month, checks=m.checks,
            people_checked=m.people_checked)
        if m.declared is not None:
            row.decisions_declared = m.declared
        if m.without_check is not None:
            row.decisions_without_check = m.without_check
    return reply


def _instant(text: str, name: str) -> str:
    if not text:
        return ""
    try:
        # Audit times are stored with microseconds; compare in the same shape.
        return parse_rfc3339(text).isoformat(timespec="microseconds")[:-6] + "Z"
    except ValueError:
        raise InvalidArgument(f"{name} must be an RFC 3339 instant") from None


class AuditServicer(rpc.AuditServiceServicer):
    """The regulator's view of the audit log; every call is itself audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def _regulator(self, call: CallFrame, context: grpc.ServicerContext,
                   request: Message) -> Party:
        party = call.identify(context)
        call.draft.purpose = SUPERVISION_PURPOSE
        with call.step("decide"):
            if not is_regulator(party):
                raise PermissionDenied("the audit log is open to regulators only",
                                       reason="not_regulator")
        return party

    @audited("audit.list")
    def ListAuditEntries(self, call: CallFrame, request: pb.ListAuditEntriesRequest,
                         context: grpc.ServicerContext) -> pb.ListAuditEntriesResponse:
        """Entries by time range, requester, purpose, decision, action or subject."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):
            # Filters and the page token are the caller's text: the identifier grammar
            # first (identifiers.py), so none is used or logged unchecked.
            for what in ("requester", "purpose", "decision", "action", "page_token"):
                if getattr(request, what):
                    check_identifier(getattr(request, what), what=what)
            indexes: tuple[str, ...] = ()
            if request.subject_id:
                subject = parse_id_number(request.subject_id, today=city_today(gw.clock))
                indexes = tuple(blind_indexes(gw.keyring, subject.value))
                call.draft.subject_index = indexes[0]
            flt = AuditFilter(
                time_from=_instant(request.time_from, "time_from"),
                time_to=_instant(request.time_to, "time_to"),
                requester=request.requester, purpose=request.purpose,
                decision=request.decision, action=request.action,
                subject_indexes=indexes)
        with call.step("fetch"):
            page = gw.audit_search.search(flt, page_token=request.page_token,
                                          page_size=request.page_size)
            call.draft.record_count = len(page.entries)
        call.commit_allow()
        return pb.ListAuditEntriesResponse(
            entries=[entry_message(seq, e) for seq, e in page.entries],
            next_page_token=page.next_token)

    @audited("audit.checkpoint")
    def GetCheckpoint(self, call: CallFrame, request: pb.GetCheckpointRequest,
                      context: grpc.ServicerContext) -> pb.Checkpoint:
        """The latest signed checkpoint, or a freshly signed one."""
        gw = self._gw
        self._regulator(call, context, request)
        call.commit_allow()
        # Signed after the audit append, so the checkpoint covers this very call.
        with call.step("respond"):
            evidence = gw.audit_evidence
            latest = evidence.store.latest()
            if request.fresh or latest is None:
                latest = evidence.checkpointer.checkpoint_now()
            return checkpoint_message(latest)

    @audited("audit.inclusion_proof")
    def GetInclusionProof(self, call: CallFrame, request: pb.InclusionProofRequest,
                          context: grpc.ServicerContext) -> pb.InclusionProofResponse:
        """An RFC 9162 inclusion proof of one entry in a signed tree."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):  # a refused request leaves a deny entry only
            evidence = gw.audit_evidence
            checkpoint = evidence.checkpointer.checkpoint_now()
            size = request.tree_size or checkpoint.size
            if not 1 <= request.seq <= size <= evidence.tree.size():
                raise InvalidArgument("need 1 <= seq <= tree_size <= the log's size")
        call.commit_allow()
        with call.step("respond"):
            index = request.seq - 1
            leaf = evidence.tree.leaf_hashes(index, index + 1)
            return pb.InclusionProofResponse(
                leaf_index=index, tree_size=size, leaf_hash=leaf,
                hashes=evidence.tree.inclusion_proof(index, size),
                checkpoint=checkpoint_message(checkpoint))

    @audited("audit.consistency_proof")
    def GetConsistencyProof(self, call: CallFrame, request: pb.ConsistencyProofRequest,
                            context: grpc.ServicerContext) -> pb.ConsistencyProofResponse:
        """An RFC 9162 consistency proof between two tree sizes."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):
            tree = gw.audit_evidence.tree
            new_size = request.new_size or tree.size()
            if not 1 <= request.old_size <= new_size <= tree.size():
                raise InvalidArgument("need 1 <= old_size <= new_size <= the log's size")
        call.commit_allow()
        with call.step("respond"):
            return pb.ConsistencyProofResponse(
                old_size=request.old_size, new_size=new_size,
                hashes=tree.consistency_proof(request.old_size, new_size))

    @audited("audit.supervision")
    def SupervisionFigures(self, call: CallFrame, request: pb.SupervisionFiguresRequest,
                           context: grpc.ServicerContext) -> pb.SupervisionFiguresResponse:
        """The supervision figures per department and per querying party and purpose."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):
            try:
                today = (date.fromisoformat(request.as_of) if request.as_of
                         else city_today(gw.clock))
            except ValueError:
                raise InvalidArgument("as_of must be a date (YYYY-MM-DD)") from None
        with call.step("fetch"):
            report = supervision_figures(gw.store, gw.audit_search, today=today,
                                         catalogue=gw.state.catalogue)
        call.commit_allow()
        return figures_message(report)

    @audited("audit.tile")
    def GetTile(self, call: CallFrame, request: pb.TileRequest,
                context: grpc.ServicerContext) -> pb.TileResponse:
        """The log as C2SP tlog-tiles (checkpoint, hash tiles, entry bundles)."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):
            if request.path != "checkpoint":
                parse_tile(request.path)
        call.commit_allow()
        with call.step("respond"):
            return pb.TileResponse(data=read_tile(request.path, gw.audit,
                                                  gw.audit_evidence))

    @audits(EXPORT_ACTION)
    def ExportAudit(
        self, request: pb.ExportAuditRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ExportAuditChunk]:
        """A range as the offline verifier's JSON Lines export, then its checkpoint."""
        gw = self._gw
        with tempfile.TemporaryDirectory(prefix="credgate-export-") as tmp:
            path = Path(tmp) / "audit.jsonl"
            # The file outlives the audited call: its chunks are sent after it.
            with audited_call(gw, context, method_of(self, "ExportAudit"),
                              EXPORT_ACTION) as call:
                self._regulator(call, context, request)
                with call.step("validate"):
                    size = gw.audit.size()
                    end = request.end_seq or size
                    if not 1 <= (request.start_seq or 1) <= end <= size:
                        raise InvalidArgument("need 1 <= start_seq <= end_seq <= the log's size")
                call.commit_allow()
                with call.step("respond"):
                    summary = export_range(
                        gw.audit, gw.audit_evidence.tree, gw.audit_evidence.checkpointer,
                        path, start=request.start_seq or 1, end=request.end_seq or None,
                        leaf_hashes=False)
            with path.open("rb") as fh:
                while chunk := fh.read(EXPORT_CHUNK):
                    yield pb.ExportAuditChunk(jsonl=chunk)
            yield pb.ExportAuditChunk(checkpoint=summary.checkpoint.note)
