"""SubjectService: the person's own access report (who looked at my data), via the portal."""

from __future__ import annotations

from datetime import timedelta

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import rfc3339
from gateway.crypto import blind_indexes
from gateway.errors import PermissionDenied
from gateway.records.idnumber import parse_id_number
from gateway.services.common import audited_call

REPORT_PURPOSE = "self_query"
PORTAL_ROLE = "citizen_portal"
# Which logged actions count as "looking at the person's data" (a minimal-disclosure
# check reads the person's records too, even though it releases only a yes or no).
ACCESS_ACTIONS = ("query.subject", "check.green_channel", "check.joint_punishment")


class SubjectServicer(rpc.SubjectServiceServicer):
    """SubjectAccessReport: identify, validate, consent, fetch, audit, respond."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def SubjectAccessReport(
        self, request: pb.SubjectAccessReportRequest, context: grpc.ServicerContext
    ) -> pb.SubjectAccessReportResponse:
        """Every allowed lookup of this person, except those whose disclosure is deferred."""
        gw = self._gw
        with audited_call(gw, context, "credgate.v1.SubjectService/SubjectAccessReport",
                          "subject.access_report") as call:
            draft = call.draft
            draft.purpose = REPORT_PURPOSE
            # 1. identify: only the citizen portal serves people their own report.
            party = call.identify(context, request)
            with call.step("decide"):
                if PORTAL_ROLE not in party.roles:
                    raise PermissionDenied("only the citizen portal may request access reports",
                                           reason="not_citizen_portal")
            # 2. validate
            with call.step("validate"):
                now = gw.clock.now()
                subject = parse_id_number(request.subject_id, today=now.date())
                indexes = blind_indexes(gw.keyring, subject.value)
                draft.subject_index = indexes[0]
            # 4. consent: the person's own signed request for this report.
            with call.step("consent"):
                consent = gw.consents.check(
                    request.consent_id, subject=subject, grantee=party.id,
                    purpose=REPORT_PURPOSE, requested=list(call.catalogue.categories),
                    explicit=False)
                draft.consent_id = consent.consent_id
            # 5. fetch: from the audit log, by blind index.
            with call.step("fetch"):
                events: list[pb.AccessEvent] = []
                for seq, entry in gw.audit_search.for_subject(indexes, actions=ACCESS_ACTIONS):
                    if entry.decision != "allow":
                        continue
                    purpose = call.catalogue.purposes.get(entry.purpose)
                    delay = timedelta(days=purpose.disclosure_delay_days if purpose else 0)
                    if entry.time + delay > now:
                        continue  # not yet disclosable; not even counted
                    who = call.catalogue.parties.get(entry.requester)
                    events.append(pb.AccessEvent(
                        time=rfc3339(entry.time), party=entry.requester,
                        party_name=who.name if who else "", party_name_zh=who.name_zh if who
                        else "", purpose=entry.purpose,
                        purpose_name_zh=purpose.name_zh if purpose else "",
                        consent_id=entry.consent_id, categories=entry.categories, seq=seq))
                draft.record_count = len(events)
            # 7. audit
            call.commit_allow()
            return pb.SubjectAccessReportResponse(events=events)
        raise AssertionError("unreachable: audited_call aborts on every refusal")
