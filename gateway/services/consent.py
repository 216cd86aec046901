"""ConsentService: the citizen portal registers and revokes consent artefacts."""

from __future__ import annotations

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.consent.artefacts import check_consent_id
from gateway.errors import AlreadyExists
from gateway.services.common import CallFrame, audited


class ConsentServicer(rpc.ConsentServiceServicer):
    """IssueConsent and RevokeConsent, each audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("consent.issue")
    def IssueConsent(self, call: CallFrame, request: pb.IssueConsentRequest,
                     context: grpc.ServicerContext) -> pb.IssueConsentResponse:
        """Verify and register a signed artefact; the caller must be its issuer."""
        gw = self._gw
        # 1. identify: the certificate's party, which signed this very request.
        party = call.identify(context)
        with call.step("validate"):
            prepared = gw.consents.prepare(party, request.consent.artefact,
                                           request.consent.signature)
            call.draft.consent_id = prepared.row.consent_id
            call.draft.purpose = prepared.row.purpose
            call.draft.subject_index = prepared.row.subject_index
            call.draft.categories = prepared.terms.categories
            taken = gw.store.get_consent(prepared.row.consent_id)
            if taken is not None and taken.signature != prepared.row.signature:
                # Refused before the allow entry: one call, one decision in the log.
                raise AlreadyExists("a different consent with this id exists",
                                    reason="consent_id_taken")
        # Staged, and registered by the allow entry (gateway.records.changes).
        call.stage(gw.consents.registration(prepared))
        call.commit_allow()
        with call.step("respond"):
            return pb.IssueConsentResponse(consent_id=prepared.row.consent_id)

    @audited("consent.revoke")
    def RevokeConsent(self, call: CallFrame, request: pb.RevokeConsentRequest,
                      context: grpc.ServicerContext) -> pb.RevokeConsentResponse:
        """Revoke: staged (uses are refused from then on: revocation only narrows
        access), and made by the allow entry."""
        gw = self._gw
        # 1. identify: the certificate's party, which signed this very request.
        party = call.identify(context)
        # Only a well-formed id enters the audit entry: the field is the caller's text.
        with call.step("validate"):
            call.draft.consent_id = check_consent_id(request.consent_id)
        with call.step("decide"):
            revocation = gw.consents.revocation(party, request.consent_id, request.reason)
        row = call.stage(revocation)
        call.draft.purpose = row.purpose
        call.draft.subject_index = row.subject_index
        call.commit_allow()
        return pb.RevokeConsentResponse(consent_id=row.consent_id,
                                        revoked_at=row.revoked_at or "")
