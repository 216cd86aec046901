"""Requests signed over their bytes as sent (scheme v2, docs/request-signing.md).

Unsigned, forged, retired-scheme, re-encoded, tampered, swapped, stale and replayed
calls are refused through a real gateway over mTLS; bodies are sent as raw bytes so
each test controls exactly what goes on the wire.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway.api import pb
from gateway.app import recent_request_digests
from gateway.audit.log import SqliteAuditLog
from gateway.clock import FixedClock
from gateway.crypto.signatures import load_signing_key, load_verify_key, sign
from gateway.crypto.signers import load_verifier
from gateway.errors import BadSignature, Unauthenticated
from gateway.identify.request_signing import (
    HEADER_SALT,
    HEADER_SCHEME,
    HEADER_SIGNATURE,
    HEADER_TIME,
    RequestVerifier,
    request_digest,
    sign_request,
    sign_request_bytes,
    signed_message_v1,
    verify_audit_text,
)
from gateway.respond.answers import split_signed, verify_answer_bytes
from tests.audit.tamper import make_entry
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, NOW

METHOD = "/credgate.v1.QueryService/QuerySubject"
PARTY = "org_department"
REQUEST = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
BODY = REQUEST.SerializeToString()
# The same message, its two fields written in the other order: equivalent protobuf
# (any decoder reads REQUEST back), different bytes.
REORDERED = (pb.QuerySubjectRequest(purpose="cadre_selection").SerializeToString()
             + pb.QuerySubjectRequest(subject_id=ADULT).SerializeToString())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One gateway for the module (its clock moves only where a test moves it)."""
    running = start_live(tmp_path_factory.mktemp("signing"), FixedClock(NOW))
    running.client("court").submit_records([debtor_record("SIG-1")])
    try:
        yield running
    finally:
        stop_live(running)


def key_of(party: str) -> SigningKey:
    return load_signing_key(KEYS / "parties" / f"{party}.sign.key")


def headers_for(live: LiveGateway, body: bytes, *, party: str = PARTY, key_party: str = PARTY,
                method: str = METHOD, shift: timedelta = timedelta()) -> list[tuple[str, str]]:
    """Valid v2 headers over `body` for a method and party, signed with a party's key."""
    return sign_request(key_of(key_party), method, body, party=party,
                        now=live.gw.clock.now() + shift)


def send(live: LiveGateway, body: bytes, headers: list[tuple[str, str]] | None, *,
         party: str = PARTY, method: str = METHOD) -> bytes:
    """Send raw body bytes over the party's mTLS channel; the answer's raw bytes."""
    channel = live.client(party).raw_channel
    answer: bytes = channel.unary_unary(method)(body, metadata=headers, timeout=10)
    return answer


def last_deny(live: LiveGateway) -> str:
    entries = list(live.gw.audit.read(start=1, limit=10_000))
    return [e for _, e in entries if e.decision == "deny"][-1].reason


def refused(live: LiveGateway, body: bytes, headers: list[tuple[str, str]] | None,
            reason: str, **where: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        send(live, body, headers, **where)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert last_deny(live) == reason
    return info.value


def test_the_bytes_as_sent_are_signed_kept_in_the_audit_and_verify_offline(
        live: LiveGateway) -> None:
    reply = live.client(PARTY).query_subject(ADULT, "cadre_selection")
    [(_, entry)] = live.gw.audit.read(start=reply.audit_seq, limit=1)
    assert entry.request_signature.startswith("v2 ")
    key = load_verify_key(KEYS / "parties" / f"{PARTY}.sign.pub")
    verify_audit_text(key, METHOD, entry.request_signature, party=PARTY)
    for other_key, other_party in ((load_verify_key(KEYS / "parties" / "court.sign.pub"), PARTY),
                                   (key, "court")):
        with pytest.raises(BadSignature):
            verify_audit_text(other_key, METHOD, entry.request_signature, party=other_party)


def test_an_equivalent_re_encoding_is_its_own_request(live: LiveGateway) -> None:
    assert pb.QuerySubjectRequest.FromString(REORDERED) == REQUEST and REORDERED != BODY
    # Signed over one encoding and sent in another: refused, whatever it means.
    refused(live, REORDERED, headers_for(live, BODY), "request_bad_signature")
    # Signed over the bytes actually sent, in whatever order another library writes
    # fields: accepted, and the answer is signed over the bytes this client receives.
    signed = sign_request_bytes(key_of(PARTY), method=METHOD, party=PARTY, body=REORDERED,
                                now=live.gw.clock.now())
    raw = send(live, REORDERED, signed.headers)
    answer, details = verify_answer_bytes(
        raw, pb.QuerySubjectResponse, load_verifier(KEYS / "gateway.answer.pub"),
        method=METHOD, party=PARTY, request_digest=signed.digest)
    assert isinstance(answer, pb.QuerySubjectResponse) and answer.records
    assert details.audit_seq == answer.audit_seq


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_change_to_the_bytes_is_refused(live: LiveGateway, data: st.DataObject) -> None:
    headers = headers_for(live, BODY)
    at = data.draw(st.integers(0, len(BODY) - 1), label="at")
    change = data.draw(st.sampled_from(["flip", "insert", "drop", "append"]), label="change")
    body = bytearray(BODY)
    if change == "flip":
        body[at] ^= data.draw(st.integers(1, 255), label="mask")
    elif change == "insert":
        body.insert(at, data.draw(st.integers(0, 255), label="byte"))
    elif change == "drop":
        del body[at]
    else:  # an extra, valid field: the message still decodes
        body += pb.QuerySubjectRequest(consent_id="consent-extra-1").SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        send(live, bytes(body), headers)
    # A body that no longer decodes is INVALID_ARGUMENT before any signature check.
    assert info.value.code() in (grpc.StatusCode.UNAUTHENTICATED,
                                 grpc.StatusCode.INVALID_ARGUMENT)
    assert last_deny(live).startswith(("request_bad_signature", "malformed_request"))


def test_unsigned_request_refused(live: LiveGateway) -> None:
    refused(live, BODY, None, "request_unsigned")


def test_request_signed_by_another_party_refused(live: LiveGateway) -> None:
    # The court's own key, naming the court: the certificate says org_department.
    refused(live, BODY, headers_for(live, BODY, party="court", key_party="court"),
            "request_bad_signature")
    # org_department's key, but naming the court as the party.
    refused(live, BODY, headers_for(live, BODY, party="court"), "request_bad_signature")


def test_a_signature_for_another_method_refused(live: LiveGateway) -> None:
    headers = headers_for(live, BODY, method="/credgate.v1.CheckService/GreenChannelEligibility")
    refused(live, BODY, headers, "request_bad_signature")


def test_swapped_headers_refused(live: LiveGateway) -> None:
    first, second = dict(headers_for(live, BODY)), dict(headers_for(live, BODY))
    for name in (HEADER_SALT, HEADER_SIGNATURE):  # one call's salt with the other's signature
        mixed = {**first, name: second[name]}
        refused(live, BODY, list(mixed.items()), "request_bad_signature")
    later = dict(headers_for(live, BODY, shift=timedelta(seconds=5)))
    refused(live, BODY, list({**first, HEADER_TIME: later[HEADER_TIME]}.items()),
            "request_bad_signature")


def test_tampered_signature_refused(live: LiveGateway) -> None:
    headers = dict(headers_for(live, BODY))
    sig = bytearray(base64.b64decode(headers[HEADER_SIGNATURE]))
    sig[0] ^= 1
    headers[HEADER_SIGNATURE] = base64.b64encode(bytes(sig)).decode()
    refused(live, BODY, list(headers.items()), "request_bad_signature")


def test_the_retired_scheme_v1_is_refused_with_its_name(live: LiveGateway) -> None:
    """An old client (v1: deterministic re-encoding, no scheme header) hears what to do."""
    salt, time_text = b"\x01" * 32, "2026-11-28T09:00:00Z"
    digest = request_digest(salt, REQUEST.SerializeToString(deterministic=True))
    old = [(HEADER_TIME, time_text), (HEADER_SALT, base64.b64encode(salt).decode()),
           (HEADER_SIGNATURE, base64.b64encode(
               sign(key_of(PARTY), signed_message_v1(METHOD, time_text, digest))).decode())]
    error = refused(live, BODY, old, "request_scheme_retired")
    assert "scheme v1 is retired" in (error.details() or "")
    assert "x-credgate-request-scheme: v2" in (error.details() or "")
    unknown = [(HEADER_SCHEME, "v3"), *headers_for(live, BODY)[1:]]
    error = refused(live, BODY, unknown, "request_scheme_unknown")
    assert "v3" not in (error.details() or "")  # the caller's value is never echoed


@pytest.mark.parametrize("shift", [timedelta(minutes=-3), timedelta(minutes=3)])
def test_request_outside_the_time_window_refused(live: LiveGateway, shift: timedelta) -> None:
    refused(live, BODY, headers_for(live, BODY, shift=shift), "request_stale")


def test_replayed_request_refused(live: LiveGateway) -> None:
    headers = headers_for(live, BODY)
    assert pb.QuerySubjectResponse.FromString(send(live, BODY, headers)).records
    live.gw.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    refused(live, BODY, headers, "request_replayed")
    # The same body signed afresh (a new salt) is a new request.
    assert send(live, BODY, headers_for(live, BODY))


def test_malformed_headers_refused(live: LiveGateway) -> None:
    for name, value in ((HEADER_TIME, "yesterday"), (HEADER_SALT, "c2hvcnQ="),
                        (HEADER_SIGNATURE, "not base64!")):
        headers = {**dict(headers_for(live, BODY)), name: value}
        refused(live, BODY, list(headers.items()), "request_malformed")


def test_a_request_cannot_be_replayed_after_a_restart(live_factory,  # type: ignore[no-untyped-def]
                                                       clock: FixedClock) -> None:
    first = live_factory(subdir="restart")
    first.client("court").submit_records([debtor_record("SIG-3")])
    headers = headers_for(first, BODY)
    assert pb.QuerySubjectResponse.FromString(send(first, BODY, headers)).records
    stop_live(first)
    clock.advance(timedelta(seconds=30))  # still inside the time window
    again = live_factory(subdir="restart")  # the same data folder: the same audit log
    refused(again, BODY, headers, "request_replayed")
    assert send(again, BODY, headers_for(again, BODY))  # fresh requests still pass


def test_an_entry_of_the_retired_scheme_still_verifies(clock: FixedClock) -> None:
    """Audit entries written under v1 stay evidence: re-verified with the v1 message."""
    key = key_of(PARTY)
    digest = request_digest(b"s" * 32, b"old body")
    signature = sign(key, signed_message_v1(METHOD, "2026-11-28T09:00:00Z", digest))
    text = f"v1 2026-11-28T09:00:00Z {digest} {base64.b64encode(signature).decode()}"
    verify_audit_text(key.verify_key, METHOD, text, party=PARTY)
    with pytest.raises(BadSignature):
        verify_audit_text(key.verify_key, "/credgate.v1.X/Y", text, party=PARTY)


def test_recent_request_digests_reads_the_log_back_to_the_horizon(tmp_path: Path) -> None:
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with SqliteAuditLog(tmp_path / "audit.db") as log:
        for n in range(7):
            version = "v1" if n < 4 else "v2"
            signature = f"{version} 2026-11-28T09:0{n}:00Z digest-{n} c2ln" if n != 5 else ""
            log.append(make_entry(n, time=start + timedelta(minutes=n),
                                  request_signature=signature))
        since = start + timedelta(minutes=3)
        found = recent_request_digests(log, since, chunk=2)
    # Oldest first, only from the horizon on, entries without a signature skipped.
    assert found == [(f"digest-{n}", start + timedelta(minutes=n)) for n in (3, 4, 6)]


def test_a_key_replaced_on_disk_stops_verifying_at_the_next_reload(clock: FixedClock) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    verifier = RequestVerifier(keys={"court": old.verify_key}, clock=clock)

    def headers(key: SigningKey) -> dict[str, str]:
        return dict(sign_request(key, METHOD, BODY, party="court", now=clock.now()))

    verifier.verify("court", METHOD, BODY, headers(old))
    verifier.use_keys({"court": new.verify_key})  # what a policy reload reads from disk
    with pytest.raises(Unauthenticated) as info:
        verifier.verify("court", METHOD, BODY, headers(old))
    assert info.value.reason == "request_bad_signature"
    verifier.verify("court", METHOD, BODY, headers(new))
    verifier.use_keys({})  # a party gone from the catalogue
    with pytest.raises(Unauthenticated):
        verifier.verify("court", METHOD, BODY, headers(new))


def test_a_part_with_a_line_break_cannot_be_signed() -> None:
    with pytest.raises(ValueError):
        sign_request(key_of(PARTY), METHOD + "\ncourt", BODY, party=PARTY, now=NOW)
    with pytest.raises(ValueError):
        sign_request(key_of(PARTY), METHOD, BODY, party="court\n", now=NOW)


def test_a_caller_may_sign_first_and_send_the_signed_bytes_later(live: LiveGateway) -> None:
    """Sign now (keeping the signature), send later through the client's own stubs: the
    channel sends those bytes as they are and does not sign again."""
    client = live.client(PARTY)
    signed = sign_request_bytes(key_of(PARTY), method=METHOD, party=PARTY, body=REORDERED,
                                now=live.gw.clock.now())
    answer = client.queries.QuerySubject(REORDERED, metadata=signed.headers, timeout=10)
    assert answer.records
    received = client.last_answer_bytes()
    assert received is not None
    verify_answer_bytes(received, pb.QuerySubjectResponse,
                        load_verifier(KEYS / "gateway.answer.pub"), party=PARTY,
                        request_digest=signed.digest)
    [(_, entry)] = live.gw.audit.read(start=answer.audit_seq, limit=1)
    assert entry.request_signature.split(" ")[2] == signed.digest
    # Sent again, the same signed bytes are a replay; a message with another's
    # headers is encoded by the stub and its bytes do not match them.
    with pytest.raises(grpc.RpcError):
        client.queries.QuerySubject(REORDERED, metadata=signed.headers, timeout=10)
    assert last_deny(live) == "request_replayed"
    with pytest.raises(grpc.RpcError):
        client.queries.QuerySubject(REQUEST, metadata=headers_for(live, REORDERED), timeout=10)
    assert last_deny(live) == "request_bad_signature"


def test_an_answer_verifies_over_its_bytes_as_received_and_no_re_encoding(
        live: LiveGateway) -> None:
    signed = sign_request_bytes(key_of(PARTY), method=METHOD, party=PARTY, body=BODY,
                                now=live.gw.clock.now())
    raw = send(live, BODY, signed.headers)
    key = load_verifier(KEYS / "gateway.answer.pub")
    body, record = split_signed(raw)
    assert raw == body + pb.QuerySubjectResponse(
        answer_signature=pb.AnswerSignature.FromString(record)).SerializeToString()
    # Where the signature record sits does not matter: it is taken out wherever it is.
    moved = raw[len(body):] + body
    verify_answer_bytes(moved, pb.QuerySubjectResponse, key, request_digest=signed.digest)
    # The body's records in another order: the same answer to a decoder, not what was
    # signed.
    answer = pb.QuerySubjectResponse.FromString(body)
    reordered = b"".join(pb.QuerySubjectResponse(**{f.name: v}).SerializeToString()
                         for f, v in reversed(answer.ListFields()))
    assert pb.QuerySubjectResponse.FromString(reordered) == answer and reordered != body
    with pytest.raises(BadSignature):
        verify_answer_bytes(reordered + raw[len(body):], pb.QuerySubjectResponse, key)


def test_a_wider_window_keeps_the_shared_memory_as_long(live_factory,  # type: ignore[no-untyped-def]
                                                        clock: FixedClock) -> None:
    # Two instances on one data folder, with a ten-minute window: a QuerySubject served
    # at one of them five minutes ago (still inside the window) is a replay at the other,
    # whose own memory never saw it; the shared memory must not have forgotten it.
    first = live_factory(subdir="wide", request_window_s=600)
    second = live_factory(subdir="wide", request_window_s=600)
    first.client("court").submit_records([debtor_record("SIG-W")])
    headers = headers_for(first, BODY)
    assert pb.QuerySubjectResponse.FromString(send(first, BODY, headers)).records
    with sqlite3.connect(first.gw.config.audit_db) as db:  # five minutes pass
        assert db.execute("UPDATE tlog_request_digests SET seen_at = seen_at - 300"
                          ).rowcount >= 1
    clock.advance(timedelta(seconds=300))
    refused(second, BODY, headers, "request_replayed")


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _other_spelling(text: str) -> str:
    """The same bytes in non-canonical base64: the unused low bits of the last digit set."""
    body = text.rstrip("=")
    last = B64.index(body[-1]) | 1
    spelt = body[:-1] + B64[last] + text[len(body):]
    assert spelt != text and base64.b64decode(spelt, validate=True) == base64.b64decode(text)
    return spelt


def test_another_spelling_or_a_repeat_of_the_headers_is_still_a_replay(
        live: LiveGateway) -> None:
    # The digest is taken over the salt's bytes, not its text: a served request sent
    # again with its salt or signature in another base64 spelling, or with its headers
    # repeated, is the same request.
    headers = dict(headers_for(live, BODY))
    assert pb.QuerySubjectResponse.FromString(send(live, BODY, list(headers.items()))).records
    for name in (HEADER_SALT, HEADER_SIGNATURE):
        refused(live, BODY, list({**headers, name: _other_spelling(headers[name])}.items()),
                "request_replayed")
    refused(live, BODY, [*headers.items(), *headers.items()], "request_replayed")
