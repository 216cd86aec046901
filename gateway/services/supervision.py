"""SupervisionService: regulators watch and acknowledge alerts; departments declare decisions."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import grpc
from google.protobuf.message import Message

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.clock import rfc3339
from gateway.errors import (
    CredgateError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from gateway.monitoring.alerts import ACK_ACTION, AlertRecord, ack_reason, seal_note
from gateway.monitoring.cursor import MonitorStore
from gateway.monitoring.watch import AlertFeed
from gateway.pii.identifiers import check_identifier
from gateway.pii.scanner import scan
from gateway.services.common import CallFrame, audited, audited_call, audits, method_of
from gateway.services.person import SUPERVISION_PURPOSE, is_regulator
from gateway.supervision.mandatory_checks import DECLARE_ACTION, declaration_reason, may_check
from gateway.validate.requests import check_free_text

MAX_NOTE_CHARS = 500
MAX_COUNTS = 1000
MAX_DECISIONS = 10_000_000
#: How often a following watch looks at the log again, in seconds.
POLL_SECONDS = 0.25
_ALERT_ID = re.compile(r"al-[a-z2-7]{24}")
_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")
DEPARTMENT_KIND = "department"

#: The audit action of an alert watch (one entry, then the stream follows).
WATCH_ACTION = "alerts.watch"


def event_message(record: AlertRecord, gw: Gateway) -> pb.AlertEvent:
    """The wire form of an alert or acknowledgement, explained from the rules in force."""
    rule = gw.state.monitoring.get(record.rule)
    return pb.AlertEvent(
        seq=record.seq, kind=record.kind, alert_id=record.alert_id, rule=record.rule,
        severity=record.severity, party=record.party, subject_index=record.subject_index,
        trigger_seqs=record.trigger_seqs, time=rfc3339(record.time),
        explanation=rule.explanation if rule else "",
        explanation_zh=rule.explanation_zh if rule else "",
        acked_by=record.acked_by, note=record.note)


class TooManyWatchers(CredgateError):
    """Every thread this instance lends to following watches is taken."""

    status = "RESOURCE_EXHAUSTED"


def _monitor_store(gw: Gateway) -> MonitorStore:
    """The monitor's alert claims; a gateway opened without a monitor serves no alerts."""
    if gw.monitor is None:
        raise FailedPrecondition("this gateway runs no monitor", reason="no_monitor")
    return gw.monitor.store


class SupervisionServicer(rpc.SupervisionServiceServicer):
    """WatchAlerts and AckAlert (regulators), DeclareDecisions (departments)."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        # A following watch holds a server thread for as long as it lasts: at most a
        # quarter of them, so calls are always served.
        self._watchers = threading.BoundedSemaphore(max(1, gw.config.max_workers // 4))

    def _regulator(self, call: CallFrame, context: grpc.ServicerContext,
                   request: Message) -> Party:
        party = call.identify(context)
        call.draft.purpose = SUPERVISION_PURPOSE
        with call.step("decide"):
            if not is_regulator(party):
                raise PermissionDenied("alerts are open to regulators only",
                                       reason="not_regulator")
        return party

    @audits(WATCH_ACTION)
    def WatchAlerts(self, request: pb.WatchAlertsRequest, context: grpc.ServicerContext
                    ) -> Iterator[pb.AlertEvent]:
        """Alerts and acknowledgements after a seq, then (unless no_follow) as they come."""
        gw = self._gw
        # Not `audited_stream`: the watch is audited once, then follows outside the call.
        with audited_call(gw, context, method_of(self, "WatchAlerts"), WATCH_ACTION) as call:
            self._regulator(call, context, request)
            with call.step("validate"):
                if request.after_seq > gw.audit.size():
                    raise InvalidArgument("after_seq is beyond the end of the log")
                store = _monitor_store(gw)
                if not request.no_follow and not self._watchers.acquire(blocking=False):
                    raise TooManyWatchers("too many alert watches at this instance; "
                                            "retry later or use no_follow",
                                            reason="too_many_watchers")
            try:
                call.commit_allow()
            except BaseException:
                if not request.no_follow:
                    self._watchers.release()
                raise
        try:
            yield from self._follow(AlertFeed(gw.audit, store, gw.cipher,
                                              after=request.after_seq),
                                    context, follow=not request.no_follow)
        finally:
            if not request.no_follow:
                self._watchers.release()

    def _follow(self, feed: AlertFeed, context: grpc.ServicerContext, *,
                follow: bool) -> Iterator[pb.AlertEvent]:
        """What the log holds after the position, then (following) what it gains."""
        while True:
            for record in feed.read():
                yield event_message(record, self._gw)
            yield pb.AlertEvent(seq=feed.position, kind="position")
            if not follow:
                return
            while context.is_active() and not feed.more():
                time.sleep(POLL_SECONDS)
            if not context.is_active():
                return

    @audited(ACK_ACTION)
    def AckAlert(self, call: CallFrame, request: pb.AckAlertRequest,
                 context: grpc.ServicerContext) -> pb.AckAlertResponse:
        """Acknowledge an alert with a note; the acknowledgement is an audit entry."""
        gw = self._gw
        self._regulator(call, context, request)
        with call.step("validate"):
            alert_id = check_identifier(request.alert_id, what="alert_id")
            if not _ALERT_ID.fullmatch(alert_id):
                raise InvalidArgument("alert_id must be an alert's id (al- and 24 letters "
                                      "or digits)")
            note = check_free_text(request.note, what="note", max_chars=MAX_NOTE_CHARS,
                                   required=False)
            if scan(note):
                raise InvalidArgument("the note holds what looks like personal data "
                                      "(an ID number, a phone number, an address or a "
                                      "name): describe the case without it",
                                      reason="note_personal_data")
        with call.step("fetch"):
            record = AlertFeed.lookup(gw.audit, _monitor_store(gw), alert_id)
            if record is None:
                raise NotFound("no alert with this id", reason="alert_unknown")
            call.draft.policy_rules.append(record.rule)
        sealed = seal_note(gw.cipher, alert_id=alert_id,
                           request_id=call.draft.request_id, note=note)
        seq = call.commit_allow(reason=ack_reason(alert_id, sealed))
        return pb.AckAlertResponse(alert_id=alert_id, seq=seq)

    @audited(DECLARE_ACTION)
    def DeclareDecisions(self, call: CallFrame, request: pb.DeclareDecisionsRequest,
                         context: grpc.ServicerContext) -> pb.DeclareDecisionsResponse:
        """A department's decisions per month and purpose (应查必查), one entry each."""
        party = call.identify(context)
        with call.step("validate"):
            if not 1 <= len(request.counts) <= MAX_COUNTS:
                raise InvalidArgument(f"declare 1 to {MAX_COUNTS} counts per call")
            for n, count in enumerate(request.counts):
                purpose = call.catalogue.purposes.get(count.purpose)
                if purpose is None or not purpose.mandatory_check:
                    raise InvalidArgument(f"count {n + 1}: the purpose must be one with a "
                                          "mandatory credit check (应查必查)")
                if not _MONTH.fullmatch(count.month):
                    raise InvalidArgument(f"count {n + 1}: month must be YYYY-MM")
                if count.decisions > MAX_DECISIONS:
                    raise InvalidArgument(f"count {n + 1}: at most {MAX_DECISIONS} "
                                          "decisions")
        with call.step("decide"):
            if party.kind != DEPARTMENT_KIND:
                raise PermissionDenied("only departments declare their decisions",
                                       reason="not_department")
            if not all(may_check(call.policy, call.catalogue, party.id, purpose)
                       for purpose in {c.purpose for c in request.counts}):
                raise PermissionDenied("the policy gives the department no checks for "
                                       "this purpose", reason="no_mandatory_checks")
        seqs: list[int] = []
        for count in request.counts:
            call.draft.purpose = count.purpose
            call.draft.record_count = count.decisions
            seqs.append(call.commit("allow", declaration_reason(count.month)))
        return pb.DeclareDecisionsResponse(seqs=seqs)
