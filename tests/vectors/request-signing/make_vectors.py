"""Regenerate the request-signing vectors: `python tests/vectors/request-signing/make_vectors.py`.

Every vector is computed by credgate's own signer from fixed inputs (RFC 8032 §7.1 test
keys, fixed salts and times), so running this again writes the same bytes; the suite
checks that it does (tests/test_request_signing_vectors.py) and that the verifier, and
the independent Node client (clients/node), reach each vector's expected outcome.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from gateway.api import pb  # noqa: E402
from gateway.clock import rfc3339  # noqa: E402
from gateway.consent.artefacts import new_terms, sign_terms  # noqa: E402
from gateway.crypto.signers import load_signer  # noqa: E402
from gateway.identify.request_signing import (  # noqa: E402
    HEADER_SALT,
    HEADER_SCHEME,
    SCHEME,
    request_digest,
    sign_request_bytes,
    signed_message,
)
from gateway.respond.answers import sign_answer, split_signed, statement  # noqa: E402

# RFC 8032 §7.1: TEST 1 (the party), TEST 2 (the gateway's answer key), TEST 3 (the
# citizen portal, issuer of consent artefacts). Published test keys: never use them.
KEYS = {
    "party": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "gateway.answer": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "citizen_portal": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
}
METHOD = "/credgate.v1.QueryService/QuerySubject"
PARTY = "org_department"
TIME = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SALT = bytes(range(32))
# A synthetic ID number (tests/support.py ADULT): valid check digit, no real person.
SUBJECT = "330106198204171132"
REQUEST = pb.QuerySubjectRequest(subject_id=SUBJECT, purpose="cadre_selection")


def write_keys() -> None:
    for name, seed in KEYS.items():
        comment = f"# TEST VECTOR KEY (RFC 8032 section 7.1) - NEVER USE: {name}\n"
        (HERE / f"{name}.sign.key").write_text(
            comment + base64.b64encode(bytes.fromhex(seed)).decode() + "\n")
        signer = load_signer(HERE / f"{name}.sign.key")
        (HERE / f"{name}.sign.pub").write_text(
            f"# TEST VECTOR PUBLIC KEY (RFC 8032 section 7.1): {name}\n"
            + base64.b64encode(signer.public.raw).decode() + "\n")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def request_vector(description: str, *, body: bytes, sign_body: bytes | None = None,
                   party: str = PARTY, sign_party: str | None = None,
                   method: str = METHOD, sign_method: str | None = None,
                   verifier_time: datetime = TIME + timedelta(seconds=30),
                   headers: dict[str, str] | None = None, expect: str = "accept",
                   reason: str = "") -> dict[str, Any]:
    """A request as sent (body, headers) and what a verifier must decide about it."""
    key = load_signer(HERE / "party.sign.key")
    signed = sign_request_bytes(key, method=sign_method or method, party=sign_party or party,
                                body=body if sign_body is None else sign_body, now=TIME,
                                salt=SALT)
    sent = dict(signed.headers) if headers is None else headers
    vector: dict[str, Any] = {
        "description": description,
        "key": "party.sign.key", "public_key": "party.sign.pub",
        "method": method, "party": party, "verifier_time": rfc3339(verifier_time),
        "window_seconds": 120,
        "body_base64": b64(body), "headers": sent, "expect": expect,
    }
    if expect == "accept":
        vector["digest"] = signed.digest
        vector["signed_message"] = signed_message(method, party, rfc3339(TIME),
                                                  signed.digest).decode("ascii")
    else:
        vector["reason"] = reason
    return vector


def request_vectors() -> dict[str, dict[str, Any]]:
    body = REQUEST.SerializeToString()
    reordered = (pb.QuerySubjectRequest(purpose="cadre_selection").SerializeToString()
                 + pb.QuerySubjectRequest(subject_id=SUBJECT).SerializeToString())
    altered = pb.QuerySubjectRequest(subject_id=SUBJECT, purpose="awards").SerializeToString()
    valid = request_vector("a QuerySubject request, signed over the bytes sent", body=body)
    v1 = {k: v for k, v in valid["headers"].items() if k != HEADER_SCHEME}
    short_salt = {**valid["headers"], HEADER_SALT: b64(SALT[:16])}
    return {
        "request-query": valid,
        "request-reencoded-fields-first": request_vector(
            "the same message with its fields in the other order: equivalent protobuf, "
            "different bytes, signed over those bytes", body=reordered),
        "request-reencoded": request_vector(
            "signed over one encoding, sent in an equivalent other one",
            body=reordered, sign_body=body, expect="refuse", reason="request_bad_signature"),
        "request-body-altered": request_vector(
            "another purpose than the one signed", body=altered, sign_body=body,
            expect="refuse", reason="request_bad_signature"),
        "request-party-swapped": request_vector(
            "signed naming the court, sent by org_department's certificate", body=body,
            sign_party="court", expect="refuse", reason="request_bad_signature"),
        "request-method-swapped": request_vector(
            "signed for GreenChannelEligibility, sent to QuerySubject", body=body,
            sign_method="/credgate.v1.CheckService/GreenChannelEligibility",
            expect="refuse", reason="request_bad_signature"),
        "request-time-outside-window": request_vector(
            "verified 121 seconds after its time", body=body,
            verifier_time=TIME + timedelta(seconds=121), expect="refuse",
            reason="request_stale"),
        "request-salt-short": request_vector(
            "a 16-byte salt", body=body, headers=short_salt, expect="refuse",
            reason="request_malformed"),
        "request-scheme-v1": request_vector(
            "no scheme header: a client of the retired scheme v1", body=body, headers=v1,
            expect="refuse", reason="request_scheme_retired"),
    }


def answer_vectors(request_digest_hex: str) -> dict[str, dict[str, Any]]:
    gateway = load_signer(HERE / "gateway.answer.sign.key")
    answer = pb.QuerySubjectResponse(
        query_id="q-0001", purpose="cadre_selection", audit_seq=42,
        released_categories=["dishonest_debtor"],
        records=[pb.ReleasedRecord(record_id="r-0001", category="dishonest_debtor",
                                   severity="serious", event_date="2026-03-01",
                                   provider="court",
                                   fields=[pb.ReleasedField(name="case_number",
                                                            value="(2026)浙01执1234号")])])
    raw = sign_answer(answer, signer=gateway, method=METHOD, party=PARTY,
                      request_digest=request_digest_hex, audit_seq=42, now=TIME)
    body, record = split_signed(raw)
    details = pb.AnswerSignature.FromString(record)

    def vector(description: str, data: bytes, *, expect: str = "accept", reason: str = "",
               party: str = PARTY) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "description": description, "type": "credgate.v1.QuerySubjectResponse",
            "public_key": "gateway.answer.sign.pub", "method": METHOD, "party": party,
            "request_digest": request_digest_hex, "answer_base64": b64(data),
            "expect": expect}
        if expect == "accept":
            doc["body_base64"] = b64(body)
            doc["statement_base64"] = b64(statement(details, body))
            doc["key_id"] = gateway.public.key_id
        else:
            doc["reason"] = reason
        return doc

    altered = bytearray(raw)
    at = raw.index(b"cadre_selection")
    altered[at] = ord("C")
    return {
        "answer-query": vector("a signed QuerySubject answer, as received", raw),
        "answer-altered": vector("one byte of the body changed", bytes(altered),
                                 expect="refuse", reason="bad_signature"),
        "answer-signature-twice": vector("the signature record sent twice", raw + record_of(
            raw), expect="refuse", reason="several_signatures"),
        "answer-unsigned": vector("the body alone", body, expect="refuse", reason="unsigned"),
        "answer-other-party": vector("verified as if it answered the court", raw,
                                     party="court", expect="refuse", reason="other_call"),
    }


def record_of(raw: bytes) -> bytes:
    body, _ = split_signed(raw)
    return raw[len(body):]


def consent_vectors() -> dict[str, dict[str, Any]]:
    terms = new_terms(subject_id=SUBJECT, grantee="credit_agency", purpose="authorised_query",
                      categories=["dishonest_debtor", "admin_penalty"], not_before=TIME,
                      not_after=TIME + timedelta(days=30), max_uses=2,
                      issuer="citizen_portal", issued_at=TIME, consent_id="consent-vector-1")
    artefact, signature = sign_terms(terms, load_signer(HERE / "citizen_portal.sign.key")._key)
    spaced = json.dumps(json.loads(artefact), ensure_ascii=False, sort_keys=True).encode()
    return {
        "consent-artefact": {
            "description": "a consent artefact in canonical form, signed by its issuer",
            "public_key": "citizen_portal.sign.pub",
            "terms": json.loads(artefact), "artefact_base64": b64(artefact),
            "signature_base64": b64(signature), "expect": "accept"},
        "consent-not-canonical": {
            "description": "the same terms with spaces after separators",
            "public_key": "citizen_portal.sign.pub", "artefact_base64": b64(spaced),
            "signature_base64": b64(signature), "expect": "refuse",
            "reason": "not_canonical"},
    }


def main() -> None:
    """Write the keys and every vector file."""
    write_keys()
    vectors = request_vectors()
    digest = vectors["request-query"]["digest"]
    assert digest == request_digest(SALT, REQUEST.SerializeToString())
    assert vectors["request-query"]["headers"][HEADER_SCHEME] == SCHEME
    vectors |= answer_vectors(digest)
    vectors |= consent_vectors()
    for name, doc in vectors.items():
        (HERE / f"{name}.json").write_text(
            json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
