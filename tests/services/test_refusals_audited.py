"""Every refusal reaches the caller as a status and the audit, even when the caller's
own text cannot enter an audit entry (audit entries refuse ID-number-like tokens)."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import grpc
import pytest
from opentelemetry.trace import INVALID_SPAN, set_span_in_context

from gateway.api import pb, rpc
from gateway.audit.draft import AuditDraft
from gateway.crypto.signatures import load_signing_key, sign
from gateway.identify.request_signing import (
    HEADER_SALT,
    HEADER_SCHEME,
    HEADER_SIGNATURE,
    HEADER_TIME,
    request_digest,
    signed_message,
)
from gateway.services.common import CallFrame, _refuse
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, NOW, OTHER_ADULT


def entries(live: LiveGateway) -> list:  # type: ignore[type-arg]
    return [e for _, e in live.gw.audit.read(start=1, limit=1000)]


def no_id_number_in_the_log(live: LiveGateway) -> None:
    raw = b"".join(data for _, data in live.gw.audit.read_raw(start=1, limit=1000))
    for id_number in (ADULT, OTHER_ADULT):
        assert id_number.encode() not in raw


def signed_at(party: str, method: str, request: pb.QuerySubjectRequest | pb.RevokeConsentRequest,
              time_text: str) -> list[tuple[str, str]]:
    """Signature headers with a hand-written time text (validly signed by the party)."""
    key = load_signing_key(KEYS / "parties" / f"{party}.sign.key")
    salt = os.urandom(32)
    # The stub sends SerializeToString's bytes: the same bytes for these map-free requests.
    digest = request_digest(salt, request.SerializeToString())
    signature = sign(key, signed_message(method, party, time_text, digest))
    return [(HEADER_SCHEME, "v2"), (HEADER_TIME, time_text),
            (HEADER_SALT, base64.b64encode(salt).decode()),
            (HEADER_SIGNATURE, base64.b64encode(signature).decode())]


def test_an_id_number_as_consent_id_is_refused_and_audited(live: LiveGateway) -> None:
    with pytest.raises(grpc.RpcError) as info:
        live.client("credit_agency").revoke_consent(OTHER_ADULT, "try to hide this call")
    # An ID number is outside the identifier grammar (gateway/pii/identifiers.py): refused as
    # malformed before any lookup, its keyed digest audited instead of the value.
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [entry] = entries(live)
    assert (entry.action, entry.decision, entry.consent_id) == ("consent.revoke", "deny", "")
    assert entry.reason.startswith("malformed_consent_id ")
    no_id_number_in_the_log(live)


@pytest.mark.parametrize("suffix", [".110105197506300580+00:00", "+00:00", ".5Z", "z"])
def test_a_request_time_in_another_form_is_refused_and_audited(live: LiveGateway,
                                                               suffix: str) -> None:
    live.client("court").submit_records([debtor_record("TIME-1")])
    request = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
    method = "/credgate.v1.QueryService/QuerySubject"
    time_text = live.gw.clock.now().strftime("%Y-%m-%dT%H:%M:%S") + suffix
    stub = rpc.QueryServiceStub(live.client("org_department").raw_channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.QuerySubject(request, metadata=signed_at("org_department", method, request,
                                                      time_text), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    last = entries(live)[-1]
    assert (last.action, last.decision, last.reason) == ("query.subject", "deny",
                                                         "request_malformed")
    no_id_number_in_the_log(live)


def test_a_revocation_signed_with_a_foreign_time_form_changes_nothing(
        live: LiveGateway) -> None:
    consent_id = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=1), max_uses=3)
    request = pb.RevokeConsentRequest(consent_id=consent_id, reason="r")
    time_text = live.gw.clock.now().strftime("%Y-%m-%dT%H:%M:%S") + ".110105197506300580+00:00"
    stub = rpc.ConsentServiceStub(live.client("citizen_portal").raw_channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.RevokeConsent(request, metadata=signed_at(
            "citizen_portal", "/credgate.v1.ConsentService/RevokeConsent", request, time_text),
            timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stored = live.gw.store.get_consent(consent_id)
    assert stored is not None and stored.revoked_at is None
    assert [(e.action, e.decision) for e in entries(live)][-1] == ("consent.revoke", "deny")


def test_a_refusal_whose_draft_cannot_be_audited_is_audited_without_that_text(
        live: LiveGateway) -> None:
    # Defence in depth: should a caller's text ever reach the draft unchecked, the
    # refusal is still audited, without the fields the caller wrote.
    gw = live.gw
    frame = CallFrame(gw=gw, span=INVALID_SPAN,
                      draft=AuditDraft(action="consent.revoke", requester="credit_agency",
                                       consent_id=f"c-{ADULT}",
                                       request_signature=f"v1 {ADULT} x y"),
                      parent=set_span_in_context(INVALID_SPAN), method="/m", state=gw.state)
    _refuse(frame, grpc.StatusCode.PERMISSION_DENIED, "refused", "not_issuer",
            skip_audit=False)
    [entry] = entries(live)
    assert (entry.decision, entry.consent_id, entry.request_signature) == ("deny", "", "")
    assert entry.reason == "not_issuer; entry_text_withheld"
    no_id_number_in_the_log(live)
