"""The request-signing vectors (tests/vectors/request-signing, docs/request-signing.md)
against credgate's signer and verifier; clients/node checks the same files."""

from __future__ import annotations

import base64
import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clock import FixedClock, parse_rfc3339
from gateway.consent.artefacts import parse_artefact
from gateway.crypto.signatures import verify
from gateway.crypto.signers import load_signer, load_verifier
from gateway.errors import BadSignature, InvalidArgument, Unauthenticated
from gateway.identify.request_signing import (
    HEADER_SALT,
    HEADER_TIME,
    RequestVerifier,
    sign_request_bytes,
)
from gateway.respond.answers import ANSWER_TYPES, sign_answer, verify_answer_bytes
from tests.support import REPO

VECTORS = REPO / "tests" / "vectors" / "request-signing"


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


def names(prefix: str) -> list[str]:
    return sorted(p.stem for p in VECTORS.glob(f"{prefix}-*.json"))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_the_files_are_what_the_generator_writes() -> None:
    make = generator()
    made = make.request_vectors()
    made |= make.answer_vectors(made["request-query"]["digest"]) | make.consent_vectors()
    assert sorted(made) == sorted(names("request") + names("answer") + names("consent"))
    for name, doc in made.items():
        assert load(name) == doc, name
    for name in make.KEYS:
        signer = load_signer(VECTORS / f"{name}.sign.key")
        assert load_verifier(VECTORS / f"{name}.sign.pub").raw == signer.public.raw


@pytest.mark.parametrize("name", names("request"))
def test_request_vector(name: str) -> None:
    vector = load(name)
    body, headers = b64(vector["body_base64"]), vector["headers"]
    verifier = RequestVerifier(
        keys={vector["party"]: load_signer(VECTORS / vector["key"]).public},
        clock=FixedClock(parse_rfc3339(vector["verifier_time"])))
    if vector["expect"] == "refuse":
        with pytest.raises(Unauthenticated) as info:
            verifier.verify(vector["party"], vector["method"], body, headers)
        assert info.value.reason == vector["reason"]
        return
    # The signer writes exactly these headers from the same inputs...
    signed = sign_request_bytes(load_signer(VECTORS / vector["key"]), method=vector["method"],
                                party=vector["party"], body=body,
                                now=parse_rfc3339(headers[HEADER_TIME]),
                                salt=b64(headers[HEADER_SALT]))
    assert dict(signed.headers) == headers and signed.digest == vector["digest"]
    # ...the signature is over the documented message...
    verify(load_verifier(VECTORS / vector["public_key"]),
           vector["signed_message"].encode("ascii"),
           b64(headers["x-credgate-request-signature"]))
    # ...and the verifier accepts it once: the second time it is a replay.
    assert verifier.verify(vector["party"], vector["method"], body, headers).digest \
        == vector["digest"]
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(vector["party"], vector["method"], body, headers)
    assert info.value.reason == "request_replayed"


@pytest.mark.parametrize("name", names("answer"))
def test_answer_vector(name: str) -> None:
    vector = load(name)
    raw, key = b64(vector["answer_base64"]), load_verifier(VECTORS / vector["public_key"])
    answer_type = ANSWER_TYPES[vector["type"]]
    expected = {"method": vector["method"], "party": vector["party"],
                "request_digest": vector["request_digest"]}
    if vector["expect"] == "refuse":
        with pytest.raises(BadSignature):
            verify_answer_bytes(raw, answer_type, key, **expected)
        return
    answer, details = verify_answer_bytes(raw, answer_type, key, **expected)
    assert details.key_id == vector["key_id"]
    # The gateway's signer makes these very bytes from the decoded answer.
    again = sign_answer(answer, signer=load_signer(VECTORS / "gateway.answer.sign.key"),
                        method=details.method, party=details.party,
                        request_digest=details.request_digest, audit_seq=details.audit_seq,
                        now=parse_rfc3339(details.signed_at))
    assert again == raw


@pytest.mark.parametrize("name", names("consent"))
def test_consent_vector(name: str) -> None:
    vector = load(name)
    artefact = b64(vector["artefact_base64"])
    key = load_verifier(VECTORS / vector["public_key"])
    if vector["expect"] == "refuse":
        with pytest.raises(InvalidArgument):
            parse_artefact(artefact)
        return
    terms = parse_artefact(artefact)
    assert terms.canonical_bytes() == artefact and json.loads(artefact) == vector["terms"]
    verify(key, artefact, b64(vector["signature_base64"]))


def test_the_vectors_cover_every_refusal_the_docs_name() -> None:
    doc = (REPO / "docs" / "request-signing.md").read_text(encoding="utf-8")
    for name in names("request") + names("answer") + names("consent"):
        assert f"{name}.json" in doc, name


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_change_to_a_signed_answer_is_refused(data: st.DataObject) -> None:
    """Flip, insert or drop any byte of a signed answer: BadSignature, never another error."""
    vector = load("answer-query")
    raw = bytearray(b64(vector["answer_base64"]))
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    change = data.draw(st.sampled_from(["flip", "insert", "drop"]), label="change")
    if change == "flip":
        raw[at] ^= data.draw(st.integers(1, 255), label="mask")
    elif change == "insert":
        raw.insert(at, data.draw(st.integers(0, 255), label="byte"))
    else:
        del raw[at]
    with pytest.raises(BadSignature):
        verify_answer_bytes(bytes(raw), ANSWER_TYPES[vector["type"]],
                            load_verifier(VECTORS / vector["public_key"]),
                            request_digest=vector["request_digest"])
