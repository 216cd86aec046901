"""SubjectService: the person's own access report (who looked at my data), via the portal."""

from __future__ import annotations

from datetime import timedelta

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import rfc3339
from gateway.services.common import CallFrame, audited
from gateway.services.credit_report import credit_report
from gateway.services.person import portal_person

# Which logged actions count as "looking at the person's data" (a minimal-disclosure
# check reads the person's records too, even though it releases only a yes or no).
ACCESS_ACTIONS = ("query.subject", "check.green_channel", "check.joint_punishment",
                  "check.incentive", "subject.credit_report")


#: Days an access under a purpose missing from the catalogue waits before it is shown.
UNKNOWN_PURPOSE_DELAY_DAYS = 180

class SubjectServicer(rpc.SubjectServiceServicer):
    """SubjectAccessReport: identify, validate, consent, fetch, audit, respond."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("subject.access_report")
    def SubjectAccessReport(self, call: CallFrame, request: pb.SubjectAccessReportRequest,
                            context: grpc.ServicerContext) -> pb.SubjectAccessReportResponse:
        """Every allowed lookup of this person, except those whose disclosure is deferred."""
        gw = self._gw
        draft = call.draft
        # 1. identify; decide (the portal only), validate, consent: the person's own
        #    signed self_query consent proves they asked for this report.
        party = call.identify(context)
        person = portal_person(call, party, request.subject_id, request.consent_id)
        indexes = list(person.indexes)
        now = gw.clock.now()
        # 5. fetch: from the audit log, by blind index.
        with call.step("fetch"):
            events: list[pb.AccessEvent] = []
            # A purpose the catalogue no longer knows (renamed or retired) may have
            # been an investigation: it waits as long as the longest delay, at least
            # UNKNOWN_PURPOSE_DELAY_DAYS, rather than not at all.
            unknown_delay = timedelta(days=max(
                [UNKNOWN_PURPOSE_DELAY_DAYS, *(p.disclosure_delay_days
                                               for p in call.catalogue.purposes.values())]))
            everything = person.categories >= set(call.catalogue.categories)
            for seq, entry in gw.audit_search.for_subject(indexes, actions=ACCESS_ACTIONS):
                if entry.decision != "allow":
                    continue
                # Only what the consent names: a lookup of other categories is not
                # reported, and one of several shows the named ones (issue 10 item 9).
                shown = tuple(c for c in entry.categories if c in person.categories)
                if not shown and (entry.categories or not everything):
                    continue
                purpose = call.catalogue.purposes.get(entry.purpose)
                delay = (timedelta(days=purpose.disclosure_delay_days) if purpose
                         else unknown_delay)
                if entry.time + delay > now:
                    continue  # not yet disclosable; not even counted
                who = call.catalogue.parties.get(entry.requester)
                events.append(pb.AccessEvent(
                    time=rfc3339(entry.time), party=entry.requester,
                    party_name=who.name if who else "", party_name_zh=who.name_zh if who
                    else "", purpose=entry.purpose,
                    purpose_name_zh=purpose.name_zh if purpose else "",
                    consent_id=entry.consent_id, categories=shown, seq=seq,
                    released_categories=sorted({c for f in entry.fields_released
                                                if (c := f.split(".", 1)[0])
                                                in person.categories})))
            draft.record_count = len(events)
        # 7. audit
        call.commit_allow()
        return pb.SubjectAccessReportResponse(events=events)

    @audited("subject.credit_report")
    def PersonalCreditReport(self, call: CallFrame, request: pb.PersonalCreditReportRequest,
                             context: grpc.ServicerContext) -> pb.PersonalCreditReportResponse:
        """The person's signed credit report of the categories they chose."""
        return credit_report(call, context, request)
