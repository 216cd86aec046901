"""Non-repudiable requests: unsigned, forged, stale and replayed calls are refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from nacl.signing import SigningKey

from gateway.api import pb, rpc
from gateway.app import recent_request_digests
from gateway.audit.log import SqliteAuditLog
from gateway.clock import FixedClock
from gateway.crypto import load_signing_key, load_verify_key
from gateway.errors import BadSignature, Unauthenticated
from gateway.request_signing import (
    HEADER_SIGNATURE,
    HEADER_TIME,
    RequestVerifier,
    sign_request,
    verify_audit_text,
)
from tests.audit.tamper import make_entry
from tests.live_gateway import LiveGateway, stop_live
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS

METHOD = "/credgate.v1.QueryService/QuerySubject"


def raw_query(live: LiveGateway, metadata: list[tuple[str, str]] | None,
              request: pb.QuerySubjectRequest | None = None) -> pb.QuerySubjectResponse:
    """A query over the org department's mTLS channel, with hand-made signature headers."""
    client = live.client("org_department")
    stub = rpc.QueryServiceStub(client.raw_channel)
    request = request or pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")
    return stub.QuerySubject(request, metadata=metadata, timeout=10)


def signed(live: LiveGateway, request: pb.QuerySubjectRequest, *, party: str = "org_department",
           shift: timedelta = timedelta()) -> list[tuple[str, str]]:
    key = load_signing_key(KEYS / "parties" / f"{party}.sign.key")
    return sign_request(key, METHOD, request.SerializeToString(deterministic=True),
                        now=live.gw.clock.now() + shift)


def refused(call, reason: str, live: LiveGateway) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    denies = [e for _, e in live.gw.audit.read(start=1, limit=1000) if e.decision == "deny"]
    assert denies[-1].reason == reason


REQUEST = pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection")


def test_signed_request_is_kept_in_the_audit_and_verifies_offline(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("SIG-1")])
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    [(_, entry)] = live.gw.audit.read(start=reply.audit_seq, limit=1)
    assert entry.request_signature.startswith("v1 ")
    key = load_verify_key(KEYS / "parties" / "org_department.sign.pub")
    verify_audit_text(key, METHOD, entry.request_signature)
    with pytest.raises(BadSignature):
        verify_audit_text(load_verify_key(KEYS / "parties" / "court.sign.pub"), METHOD,
                          entry.request_signature)


def test_unsigned_request_refused(live: LiveGateway) -> None:
    refused(lambda: raw_query(live, None), "request_unsigned", live)


def test_request_signed_by_another_party_refused(live: LiveGateway) -> None:
    refused(lambda: raw_query(live, signed(live, REQUEST, party="court")),
            "request_bad_signature", live)


def test_altered_request_refused(live: LiveGateway) -> None:
    headers = signed(live, REQUEST)
    altered = pb.QuerySubjectRequest(subject_id=ADULT, purpose="awards")
    refused(lambda: raw_query(live, headers, altered), "request_bad_signature", live)


def test_tampered_signature_refused(live: LiveGateway) -> None:
    headers = dict(signed(live, REQUEST))
    sig = bytearray(base64.b64decode(headers[HEADER_SIGNATURE]))
    sig[0] ^= 1
    headers[HEADER_SIGNATURE] = base64.b64encode(bytes(sig)).decode()
    refused(lambda: raw_query(live, list(headers.items())), "request_bad_signature", live)


@pytest.mark.parametrize("shift", [timedelta(minutes=-3), timedelta(minutes=3)])
def test_request_outside_the_time_window_refused(live: LiveGateway, shift: timedelta) -> None:
    refused(lambda: raw_query(live, signed(live, REQUEST, shift=shift)), "request_stale", live)


def test_replayed_request_refused(live: LiveGateway, clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("SIG-2")])
    headers = signed(live, REQUEST)
    assert raw_query(live, headers).records
    clock.advance(timedelta(seconds=30))
    refused(lambda: raw_query(live, headers), "request_replayed", live)


def test_a_request_cannot_be_replayed_after_a_restart(live_factory,  # type: ignore[no-untyped-def]
                                                       clock: FixedClock) -> None:
    first = live_factory(subdir="restart")
    first.client("court").submit_records([debtor_record("SIG-3")])
    headers = signed(first, REQUEST)
    assert raw_query(first, headers).records
    stop_live(first)
    clock.advance(timedelta(seconds=30))  # still inside the time window
    again = live_factory(subdir="restart")  # the same data folder: the same audit log
    refused(lambda: raw_query(again, headers), "request_replayed", again)
    assert raw_query(again, signed(again, REQUEST)).records  # fresh requests still pass


def test_malformed_headers_refused(live: LiveGateway) -> None:
    headers = dict(signed(live, REQUEST))
    headers[HEADER_TIME] = "yesterday"
    refused(lambda: raw_query(live, list(headers.items())), "request_malformed", live)


def test_recent_request_digests_reads_the_log_back_to_the_horizon(tmp_path: Path) -> None:
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with SqliteAuditLog(tmp_path / "audit.db") as log:
        for n in range(7):
            signature = f"v1 2026-11-28T09:0{n}:00Z digest-{n} c2ln" if n != 5 else ""
            log.append(make_entry(n, time=start + timedelta(minutes=n),
                                  request_signature=signature))
        since = start + timedelta(minutes=3)
        found = recent_request_digests(log, since, chunk=2)
    # Oldest first, only from the horizon on, entries without a signature skipped.
    assert found == [(f"digest-{n}", start + timedelta(minutes=n)) for n in (3, 4, 6)]


def test_a_key_replaced_on_disk_stops_verifying_at_the_next_reload(clock: FixedClock) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    verifier = RequestVerifier(keys={"court": old.verify_key}, clock=clock)
    request = REQUEST.SerializeToString(deterministic=True)

    def headers(key: SigningKey) -> dict[str, str]:
        return dict(sign_request(key, METHOD, request, now=clock.now()))

    verifier.verify("court", METHOD, request, headers(old))
    verifier.use_keys({"court": new.verify_key})  # what a policy reload reads from disk
    with pytest.raises(Unauthenticated) as info:
        verifier.verify("court", METHOD, request, headers(old))
    assert info.value.reason == "request_bad_signature"
    verifier.verify("court", METHOD, request, headers(new))
    verifier.use_keys({})  # a party gone from the catalogue
    with pytest.raises(Unauthenticated):
        verifier.verify("court", METHOD, request, headers(new))
