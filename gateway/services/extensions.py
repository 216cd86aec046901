"""ExtensionService: a department lists extension applications about its records and
answers them (申请延期).

The person applies through the citizen portal (SubmitRecords, category
extension_application, citing a record that states an obligation). The department that
provided that record lists the applications (its own id for the record, the date asked
for, the person's reasons) and answers each once; the answer is an `extension_answer`
record of the person, built by the gateway so the department never handles the ID
number, and accepted through the same validation, intake rules and policy as a
submission (gateway.services.records.accept_batch, gateway.records.extensions).
"""

from __future__ import annotations

import secrets
import string

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.clock import city_today, local_date, parse_rfc3339
from gateway.errors import InvalidArgument, NotFound, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.protect.release import field_value
from gateway.records import extensions as ext
from gateway.records.intake import open_subject
from gateway.records.lifecycle import in_use
from gateway.services.common import CallFrame, audited
from gateway.services.person import PROVIDER_PURPOSE
from gateway.services.records import accept_batch, activate_after_allow, store_pending
from gateway.validate.requests import RawRecord, check_free_text

STATUSES = ("", "open", "answered")


def _answer_source_id() -> str:
    """A fresh source id for an answer the gateway builds: letters only (a uuid's digits
    may read as a mobile number across its hyphens, and intake refuses those)."""
    return "extension-answer-" + "".join(secrets.choice(string.ascii_lowercase)
                                         for _ in range(26))


def _department(call: CallFrame, context: grpc.ServicerContext) -> Party:
    """identify and decide: a party that provides records an extension may be asked of."""
    party = call.identify(context)
    call.draft.purpose = PROVIDER_PURPOSE
    with call.step("decide"):
        if party.id not in call.catalogue.categories[ext.ANSWER].providers:
            raise PermissionDenied("only a department whose records an extension may be "
                                   "asked of answers extension applications",
                                   reason="not_provider")
    return party


class ExtensionServicer(rpc.ExtensionServiceServicer):
    """ListExtensions and AnswerExtension, for the providing departments; audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("extension.list")
    def ListExtensions(self, call: CallFrame, request: pb.ListExtensionsRequest,
                       context: grpc.ServicerContext) -> pb.ListExtensionsResponse:
        """The applications about the caller's records in use, oldest first."""
        gw = self._gw
        party = _department(call, context)
        with call.step("validate"):
            if request.status not in STATUSES:
                raise InvalidArgument("status must be open, answered or empty")
        with call.step("fetch"):
            out = []
            for s in ext.extension_statuses(gw.store, party.id, city_today(gw.clock)):
                if request.status and (request.status == "open") == bool(s.outcome):
                    continue
                a = s.application
                out.append(pb.ExtensionApplication(
                    application_id=a.record_id, record_id=s.about.record_id,
                    source_record_id=s.about.source_record_id, category=s.about.category,
                    filed_on=local_date(parse_rfc3339(a.submitted_at)).isoformat(),
                    requested_until=ext.plain(a, "requested_until"),
                    statement=field_value(a, "statement", gw.cipher),
                    outcome=s.outcome, granted_until=s.granted_until))
            call.draft.categories = (ext.APPLICATION,)
            call.draft.record_count = len(out)
        seq = call.commit_allow()
        return pb.ListExtensionsResponse(applications=out, audit_seq=seq)

    @audited("extension.answer")
    def AnswerExtension(self, call: CallFrame, request: pb.AnswerExtensionRequest,
                        context: grpc.ServicerContext) -> pb.AnswerExtensionResponse:
        """Record the department's answer, for the person and whoever sees the record."""
        gw = self._gw
        party = _department(call, context)
        with call.step("validate"):
            application_id = check_identifier(request.application_id, what="application_id")
            if request.outcome not in ext.OUTCOMES:
                raise InvalidArgument("outcome must be granted or refused")
            note = check_free_text(request.note, what="note", max_chars=1000,
                                   required=False)
        with call.step("decide"):
            today = city_today(gw.clock)
            application = gw.store.get_record(application_id)
            if application is None or application.category != ext.APPLICATION \
                    or not in_use(application, today):
                raise NotFound("no extension application with this id",
                               reason="extension_unknown")
            call.draft.subject_index = application.subject_index
            subject_id = open_subject(application, gw.cipher)
        fields = {ext.APPLICATION_FIELD: application_id, ext.OUTCOME_FIELD: request.outcome}
        if request.granted_until:
            fields[ext.UNTIL_FIELD] = request.granted_until
        if note:
            fields["note"] = note
        now = gw.clock.now()
        # The provider, the grant's date and a first answer are checked at intake.
        sealed = accept_batch(call, party, [RawRecord(
            subject_id=subject_id, category=ext.ANSWER, severity="not_applicable",
            event_date=today.isoformat(), fields=fields,
            source_record_id=_answer_source_id())], now)
        stored = store_pending(call, sealed, now)
        seq = call.commit_allow(reason=f"extension {application_id} {request.outcome}")
        activate_after_allow(call, stored)
        return pb.AnswerExtensionResponse(answer_record_id=sealed[0].record_id,
                                          audit_seq=seq)
