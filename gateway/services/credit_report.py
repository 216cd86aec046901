"""The signed personal credit report, built for the person through the citizen portal.

identify (the portal) -> validate (the chosen categories) -> consent (the person's own
self_query consent covering every chosen category) -> decide (what the person's own
query releases) -> fetch (records in use) -> protect -> audit -> sign -> respond.
"""

from __future__ import annotations

import uuid

import grpc

from gateway.api import pb
from gateway.clock import city_today, rfc3339
from gateway.crypto.blind_index import blind_indexes
from gateway.disclosure.credit_report import report_document, sign_report
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.pii.idnumber import parse_id_number
from gateway.policy.conditions import ConditionContext
from gateway.protect.attachments import attachments_for, protect_attachments, text_field
from gateway.protect.masking import mask_id_number
from gateway.protect.release import CLEAR, audience_of, protect_record
from gateway.records.fetch import records_in_use
from gateway.services.common import CallFrame
from gateway.services.person import SELF_PURPOSE, is_portal

MAX_CATEGORIES = 64


def credit_report(call: CallFrame, context: grpc.ServicerContext,
                  request: pb.PersonalCreditReportRequest) -> pb.PersonalCreditReportResponse:
    """Build, audit and sign the report of exactly the categories the person chose."""
    gw = call.gw
    draft = call.draft
    draft.purpose = SELF_PURPOSE
    party = call.identify(context)
    with call.step("decide"):
        if not is_portal(party):
            raise PermissionDenied("only the citizen portal acts for a person",
                                   reason="not_citizen_portal")
    with call.step("validate"):
        today = city_today(gw.clock)
        subject = parse_id_number(request.subject_id, today=today)
        indexes = blind_indexes(gw.keyring, subject.value)
        draft.subject_index = indexes[0]
        chosen = list(dict.fromkeys(request.categories))
        if not chosen or len(chosen) > MAX_CATEGORIES:
            raise InvalidArgument("choose the categories the report shows",
                                  reason="no_categories")
        if any(code not in call.catalogue.categories for code in chosen):
            raise InvalidArgument("unknown category code", reason="unknown_category")
        if gw.log_key is None:
            raise FailedPrecondition("the gateway has no signing key")
    with call.step("consent"):
        call.check_consent(request.consent_id, subject=subject, grantee=party.id,
                           purpose=SELF_PURPOSE, requested=chosen, explicit=True)
    with call.step("decide"):
        ctx = ConditionContext(consent_presented=True, subject_age=subject.age_on(today),
                               now=gw.clock.now())
        decided = call.policy.decide_categories(
            party.id, [call.catalogue.categories[c] for c in chosen], SELF_PURPOSE, ctx)
        access = {}
        for code, fields in decided.items():
            draft.policy_rules.extend(fields.rule_references)
            if fields.any_released:
                access[code] = fields.levels
        if set(access) != set(chosen):  # the report shows exactly what was chosen
            raise PermissionDenied("policy does not release a chosen category to the person",
                                   reason="policy_denied")
        draft.categories = tuple(sorted(chosen))
    with call.step("fetch"):
        stored = records_in_use(gw.store, indexes, chosen, today)
    with call.step("protect"):
        audience = audience_of(party)
        records = []
        released_names: set[str] = set()
        # The person's statements and extension applications go with their records, so
        # the receiver reads the explanation beside the record (自主解释).
        attached = protect_attachments(
            attachments_for(gw.store, gw.cipher, indexes, {r.record_id for r in stored},
                            today),
            {r.record_id: r for r in stored}, categories=call.catalogue.categories,
            access=access, cipher=gw.cipher, profiles=call.state.profiles,
            audience=audience)
        for r in stored:
            category = call.catalogue.categories[r.category]
            out = protect_record(r, category=category, access=access[r.category],
                                 cipher=gw.cipher, profiles=call.state.profiles,
                                 audience=audience)
            released_names.update(out.released_field_names)
            provider = call.catalogue.parties.get(r.provider)
            records.append({
                "record_id": r.record_id, "category": r.category,
                "category_name_zh": category.name_zh, "severity": r.severity,
                "event_date": r.event_date.isoformat(),
                "display_end": r.display_end.isoformat() if r.display_end else "",
                "provider": r.provider,
                "provider_name_zh": provider.name_zh if provider else "",
                "disputed": r.disputed,
                "fields": {f.name: f.value for f in out.fields},
                "masked_fields": sorted(f.name for f in out.fields if f.disclosure != CLEAR),
            })
            if r.record_id in attached:
                records[-1]["attachments"] = [
                    {"kind": a.kind, "kind_name_zh": call.catalogue.categories[a.kind].name_zh,
                     "text": a.text, "requested_until": a.requested_until,
                     **({"answers": a.answers, "outcome": a.outcome,
                         "granted_until": a.granted_until} if a.answers else {})}
                    for a in attached[r.record_id]]
                released_names.update(f"{a.kind}.{text_field(a.kind)}"
                                      for a in attached[r.record_id])
        draft.fields_released = tuple(sorted(released_names))
        draft.record_count = len(records)
        report_id = f"rpt-{uuid.uuid4()}"
        document = report_document(
            report_id=report_id, issued_at=rfc3339(gw.clock.now()),
            subject_id=subject.value, masked_id=mask_id_number(subject.value),
            categories=chosen, records=sorted(records, key=lambda x: (x["category"],
                                                                      x["event_date"])),
            policy_version=call.state.version)
    # audit: durable before the report leaves the gateway.
    seq = call.commit_allow(reason=f"report {report_id}")
    assert gw.log_key is not None  # checked in validate
    return pb.PersonalCreditReportResponse(report=sign_report(document, gw.log_key),
                                           report_id=report_id, audit_seq=seq)
