"""Signed answers: every QuerySubject and check answer carries the gateway's signature."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.cli import main
from gateway.client import CredgateClient, PartyCredentials
from gateway.crypto.signers import ED25519, generate_signer, load_verifier, verifier_file_text
from gateway.errors import BadSignature
from gateway.respond.answers import load_answer, save_answer, verify_answer
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS

QUERY = "/credgate.v1.QueryService/QuerySubject"
GATEWAY_KEY = load_verifier(KEYS / "gateway.answer.pub")


@pytest.fixture(scope="module")
def answer(tmp_path_factory: pytest.TempPathFactory) -> pb.QuerySubjectResponse:
    """One real signed answer (the live gateway is per test, so it is made once here)."""
    from gateway.clock import FixedClock
    from tests.live_gateway import start_live, stop_live
    from tests.support import NOW

    live = start_live(tmp_path_factory.mktemp("answers"), FixedClock(NOW))
    try:
        live.client("court").submit_records([debtor_record("S-1")])
        live.client("public_security").submit_records([identity_record()])
        return live.client("org_department").query_subject(ADULT, "cadre_selection")
    finally:
        stop_live(live)


def test_the_answer_is_signed_for_this_party_call_and_audit_entry(
        answer: pb.QuerySubjectResponse) -> None:
    signed = verify_answer(answer, GATEWAY_KEY, method=QUERY, party="org_department")
    assert signed.algorithm == ED25519 and signed.audit_seq == answer.audit_seq > 0
    assert len(signed.request_digest) == 64 and signed.signed_at.endswith("Z")
    for wrong in ({"party": "court"}, {"method": "/credgate.v1.CheckService/x"},
                  {"request_digest": "0" * 64}):
        with pytest.raises(BadSignature):
            verify_answer(answer, GATEWAY_KEY, **wrong)  # type: ignore[arg-type]


def test_an_altered_answer_does_not_verify(answer: pb.QuerySubjectResponse) -> None:
    changed = pb.QuerySubjectResponse()
    changed.CopyFrom(answer)
    changed.records[0].fields[0].value += "x"
    with pytest.raises(BadSignature):
        verify_answer(changed, GATEWAY_KEY)
    changed.CopyFrom(answer)
    changed.audit_seq += 1
    with pytest.raises(BadSignature):
        verify_answer(changed, GATEWAY_KEY)
    changed.CopyFrom(answer)
    changed.answer_signature.signed_at = "2020-01-01T00:00:00Z"
    with pytest.raises(BadSignature):
        verify_answer(changed, GATEWAY_KEY)
    changed.CopyFrom(answer)
    changed.ClearField("answer_signature")
    with pytest.raises(BadSignature):
        verify_answer(changed, GATEWAY_KEY)
    with pytest.raises(BadSignature):
        verify_answer(answer, generate_signer(ED25519).public)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_of_a_saved_answer_is_refused(
        answer: pb.QuerySubjectResponse, data: st.DataObject) -> None:
    raw = bytearray(answer.SerializeToString())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    changed = pb.QuerySubjectResponse()
    try:
        changed.ParseFromString(bytes(raw))
    except Exception:
        return  # no longer an answer at all
    if changed == answer:  # a flip that protobuf reads back as the same message
        return
    with pytest.raises(BadSignature):
        verify_answer(changed, GATEWAY_KEY)


def test_verify_answer_checks_a_saved_answer_offline(
        answer: pb.QuerySubjectResponse, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "answer.json"
    save_answer(saved, answer)
    assert load_answer(saved) == answer
    key = str(KEYS / "gateway.answer.pub")
    assert main(["verify-answer", str(saved), "--key", key, "--party", "org_department"]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["verify-answer", str(saved), "--key", key, "--party", "court"]) == 1
    changed = pb.QuerySubjectResponse()
    changed.CopyFrom(answer)
    changed.withheld_categories.append("identity")
    save_answer(saved, changed)
    assert main(["verify-answer", str(saved), "--key", key]) == 1
    other = tmp_path / "other.pub"
    other.write_text(verifier_file_text(generate_signer(ED25519).public), encoding="utf-8")
    save_answer(saved, answer)
    assert main(["verify-answer", str(saved), "--key", str(other)]) == 1
    saved.write_text("{}", encoding="utf-8")
    assert main(["verify-answer", str(saved), "--key", key]) == 2


def test_the_client_verifies_by_default_and_checks_are_signed(
        live: LiveGateway, tmp_path: Path) -> None:
    live.client("court").submit_records([debtor_record("S-2")])
    answer = live.client("org_department").query_subject(ADULT, "cadre_selection")
    assert answer.answer_signature.signature
    # A client holding another gateway key refuses the real gateway's answers.
    wrong = tmp_path / "wrong.pub"
    wrong.write_text(verifier_file_text(generate_signer(ED25519).public), encoding="utf-8")
    credentials = PartyCredentials.from_keys_dir(KEYS, "org_department")
    fooled = live.client_with(PartyCredentials(**{**credentials.__dict__, "answer_key": wrong}))
    with pytest.raises(BadSignature):
        fooled.query_subject(ADULT, "cadre_selection")
    unchecked = CredgateClient(live.target, PartyCredentials(
        **{**credentials.__dict__, "answer_key": wrong}), clock=live.gw.clock,
        verify_answers=False)
    live.clients.append(unchecked)
    assert unchecked.query_subject(ADULT, "cadre_selection").records
    check = live.client("market_regulator").joint_punishment(ADULT, "high_consumption")
    verify_answer(check, GATEWAY_KEY, method="/credgate.v1.CheckService/JointPunishmentCheck",
                  party="market_regulator")
