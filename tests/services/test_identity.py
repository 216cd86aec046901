"""Identify: the caller is its certificate; untrusted and unknown certificates get nothing."""

from __future__ import annotations

import grpc
import pytest

from gateway.client import PartyCredentials
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
