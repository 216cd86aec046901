"""Identify: the caller is its certificate; untrusted and unknown certificates get nothing."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from cryptography.x509.oid import NameOID

from gateway.client import PartyCredentials
from tests.certs import client_cert, cns, credentials
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS


def test_certificate_from_another_ca_is_refused_at_the_handshake(live: LiveGateway) -> None:
    forged = PartyCredentials(party="court", ca=KEYS / "ca.crt",
                              cert=KEYS / "untrusted" / "court.crt",
                              key=KEYS / "untrusted" / "court.key",
                              signing_key=KEYS / "parties" / "court.sign.key")
    with pytest.raises(grpc.RpcError) as info:
        live.client_with(forged).submit_records([debtor_record("U-1")], timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert live.gw.audit.size() == 0  # the call never reached the gateway


def test_certificate_of_an_unregistered_party_is_unauthenticated(live: LiveGateway) -> None:
    stranger = PartyCredentials(party="unknown_party", ca=KEYS / "ca.crt",
                                cert=KEYS / "parties" / "unknown_party.crt",
                                key=KEYS / "parties" / "unknown_party.key",
                                signing_key=KEYS / "parties" / "court.sign.key")
    with pytest.raises(grpc.RpcError) as info:
        live.client_with(stranger).query_subject(ADULT, "cadre_selection")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert entry.decision == "deny" and entry.reason == "unknown_party"


def test_no_client_certificate_is_refused(live: LiveGateway) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=(KEYS / "ca.crt").read_bytes())
    channel = grpc.secure_channel(live.target, creds,
                                  options=[("grpc.ssl_target_name_override", "localhost")])
    try:
        with pytest.raises(grpc.RpcError) as info:
            grpc.channel_ready_future(channel).result(timeout=5)
            from gateway.api import pb, rpc
            rpc.QueryServiceStub(channel).QuerySubject(
                pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    except grpc.FutureTimeoutError:
        pass  # refused during the handshake: the channel never became ready
    finally:
        channel.close()


def test_the_request_cannot_claim_another_identity(live: LiveGateway) -> None:
    # The court's certificate makes the caller the court, whatever the records say.
    live.client("court").submit_records([debtor_record("I-1")])
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert entry.requester == "court"


_URI = "urn:credgate:party:"
# Certificates the development CA signed whose party is ambiguous: each tries to be taken
# as the court (or as another party) through a second name.
AMBIGUOUS = {
    "two_cns": (cns("court", "regulator"), []),
    "two_cns_reversed": (cns("regulator", "court"), []),
    "same_cn_twice": (cns("court", "court"), [f"{_URI}court"]),
    "no_cn_uri_only": (cns(), [f"{_URI}court"]),
    "uri_names_another_party": (cns("court"), [f"{_URI}regulator"]),
    "two_party_uris": (cns("court"), [f"{_URI}court", f"{_URI}regulator"]),
    "uri_other_case": (cns("court"), ["URN:CREDGATE:PARTY:regulator"]),
    "multi_valued_rdn": ([[(NameOID.COMMON_NAME, "court"), (NameOID.COMMON_NAME, "regulator")]],
                         []),
}


@pytest.mark.parametrize("shape", sorted(AMBIGUOUS))
def test_an_ambiguous_certificate_is_unauthenticated_and_audited(
        live: LiveGateway, tmp_path: Path, shape: str) -> None:
    rdns, uris = AMBIGUOUS[shape]
    client = live.client_with(credentials(tmp_path, client_cert(rdns, uris)))
    with pytest.raises(grpc.RpcError) as info:
        client.query_subject(ADULT, "cadre_selection", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert entry.decision == "deny" and entry.reason == "bad_certificate"
    assert entry.requester == ""


def test_a_certificate_with_one_cn_and_its_party_uri_is_the_party(
        live: LiveGateway, tmp_path: Path) -> None:
    cert = client_cert(cns("court"), [f"{_URI}court"])
    live.client_with(credentials(tmp_path, cert)).submit_records([debtor_record("I-2")])
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert entry.requester == "court" and entry.decision == "allow"
