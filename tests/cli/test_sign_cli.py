"""`credgate sign` prints headers that a grpcurl user sends with the request's bytes.

grpcurl is not packaged in Debian, so the test plays its part: it reads the printed
`-H NAME:VALUE` options as grpcurl does, encodes the JSON request itself (field-number
order, as grpcurl's Go protobuf writes it, here built by hand from the field tags) and
sends those bytes over mTLS to a live gateway.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.cli import main
from gateway.clock import FixedClock, rfc3339
from gateway.crypto.signers import load_verifier
from gateway.respond.answers import verify_answer_bytes
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS

METHOD = "/credgate.v1.QueryService/QuerySubject"


@pytest.fixture
def clock() -> FixedClock:
    """`credgate query` signs with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def grpcurl_headers(printed: str) -> list[tuple[str, str]]:
    """The metadata grpcurl sends for `-H NAME:VALUE` words (split once, trimmed)."""
    words = shlex.split(printed)
    assert words[::2] == ["-H"] * (len(words) // 2)
    pairs = [word.split(":", 1) for word in words[1::2]]
    return [(name.strip().lower(), value.strip()) for name, value in pairs]


def field(number: int, text: str) -> bytes:
    """One length-delimited field (tag, length, UTF-8), as any protobuf writer emits it."""
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def sign(live: LiveGateway, request: Path, capsys: pytest.CaptureFixture[str],
         *extra: str) -> str:
    code = main(["sign", METHOD, "--party", "org_department", "--request", str(request),
                 "--time", rfc3339(live.gw.clock.now()), *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_a_grpcurl_call_with_the_printed_headers_is_served(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("SIGN-1")])
    request = tmp_path / "query.json"
    request.write_text(json.dumps({"subjectId": ADULT, "purpose": "cadre_selection"}))
    headers = grpcurl_headers(sign(live, request, capsys))
    body = field(1, ADULT) + field(2, "cadre_selection")  # what grpcurl sends
    channel = live.client("org_department").raw_channel
    raw = channel.unary_unary(METHOD)(body, metadata=headers, timeout=10)
    answer, signed = verify_answer_bytes(raw, pb.QuerySubjectResponse,
                                         load_verifier(KEYS / "gateway.answer.pub"),
                                         method=METHOD, party="org_department")
    assert [r.category for r in answer.records] == ["dishonest_debtor"]  # type: ignore[attr-defined]
    # The same headers again: a replay.
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(METHOD)(body, metadata=headers, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # --format json names the body it signed and the digest the answer will carry.
    doc = json.loads(sign(live, request, capsys, "--format", "json"))
    assert base64.b64decode(doc["body_base64"]) == body
    raw = channel.unary_unary(METHOD)(body, metadata=list(doc["headers"].items()), timeout=10)
    _, signed = verify_answer_bytes(raw, pb.QuerySubjectResponse,
                                    load_verifier(KEYS / "gateway.answer.pub"),
                                    request_digest=doc["digest"])
    assert signed.party == "org_department"


def test_headers_for_one_request_do_not_carry_another(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "query.json"
    request.write_text(json.dumps({"subjectId": ADULT, "purpose": "cadre_selection"}))
    headers = grpcurl_headers(sign(live, request, capsys))
    channel = live.client("org_department").raw_channel
    for body in (field(1, ADULT) + field(2, "awards"),                # another purpose
                 field(2, "cadre_selection") + field(1, ADULT)):      # re-encoded
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(METHOD)(body, metadata=headers, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Another party's certificate with these headers: the party is in what was signed.
    with pytest.raises(grpc.RpcError) as info:
        live.client("court").raw_channel.unary_unary(METHOD)(
            field(1, ADULT) + field(2, "cadre_selection"), metadata=headers, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_sign_refuses_what_it_cannot_sign_without_echoing_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "bad.json"
    request.write_text(json.dumps({"subject": ADULT}))
    assert main(["sign", METHOD, "--party", "org_department", "--request", str(request)]) == 2
    assert main(["sign", "/credgate.v1.QueryService/Nope", "--party", "org_department",
                 "--request", str(request)]) == 2
    assert main(["sign", METHOD, "--party", "nobody", "--request", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert ADULT not in err and "QuerySubjectRequest" in err and "unknown method" in err


def test_a_saved_answer_is_the_bytes_received_and_verifies_offline(
        live: LiveGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("SIGN-2")])
    saved = tmp_path / "answer.json"
    monkeypatch.setattr("sys.stdin", io.StringIO(ADULT + "\n"))
    assert main(["query", "-", "--purpose", "cadre_selection", "--party", "org_department",
                 "--target", live.target, "--keys", str(KEYS),
                 "--save-answer", str(saved)]) == 0
    key = str(KEYS / "gateway.answer.pub")
    assert main(["verify-answer", str(saved), "--key", key, "--party", "org_department"]) == 0
    doc = json.loads(saved.read_text())
    received = base64.b64decode(doc["answer"])
    answer, _ = verify_answer_bytes(received, pb.QuerySubjectResponse, load_verifier(key))
    # The file keeps the bytes as they came: the body, then field 100's record (key
    # 100 << 3 | 2, varint a2 06) where the gateway put it.
    assert received.rindex(b"\xa2\x06") > 0 and answer.records  # type: ignore[attr-defined]
    # The same answer with its purpose field moved first: equivalent, not what was signed.
    purpose = pb.QuerySubjectResponse(purpose=answer.purpose).SerializeToString()  # type: ignore[attr-defined]
    reordered = purpose + received.replace(purpose, b"", 1)
    assert reordered != received
    assert pb.QuerySubjectResponse.FromString(reordered) == answer
    doc["answer"] = base64.b64encode(reordered).decode()
    saved.write_text(json.dumps(doc))
    assert main(["verify-answer", str(saved), "--key", key]) == 1
    assert ADULT not in capsys.readouterr().err
