"""The gm suite's algorithms against the standards' own examples (tests/vectors/gm)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.crypto import _primitives as p
from gateway.crypto.signers import SM2, load_signer, signer_file_text, verifier_from_text
from gateway.errors import BadSignature

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "gm"


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_sm4_block_matches_gb_t_32907_example() -> None:
    for case in _load("sm4.json")["block"]:
        enc = Cipher(algorithms.SM4(bytes.fromhex(case["key"])), modes.ECB()).encryptor()
        out = enc.update(bytes.fromhex(case["plaintext"])) + enc.finalize()
        assert out.hex() == case["ciphertext"]


def test_sm4_gcm_matches_rfc_8998_and_refuses_any_change() -> None:
    for case in _load("sm4.json")["gcm"]:
        cipher = p.sm4_gcm(bytes.fromhex(case["key"]))
        nonce, aad = bytes.fromhex(case["nonce"]), bytes.fromhex(case["aad"])
        sealed = p.seal(cipher, nonce, bytes.fromhex(case["plaintext"]), aad)
        assert sealed.hex() == case["ciphertext"] + case["tag"]
        assert p.open_(cipher, nonce, sealed, aad).hex() == case["plaintext"]
        for broken in (sealed[:-1] + bytes([sealed[-1] ^ 1]),
                       bytes([sealed[0] ^ 0x80]) + sealed[1:], sealed[:15]):
            with pytest.raises(p.AuthenticationFailed):
                p.open_(cipher, nonce, broken, aad)
        with pytest.raises(p.AuthenticationFailed):
            p.open_(cipher, nonce, sealed, aad + b"x")


def test_sm3_matches_gb_t_32905_examples() -> None:
    for case in _load("sm3.json")["vectors"]:
        assert p.sm3(case["message_ascii"].encode("ascii")).hex() == case["digest"]


def test_sm2_binding_verifies_the_gb_t_32918_example_with_the_default_user_id(
        tmp_path: Path) -> None:
    case = _load("sm2-sign.json")
    verifier = verifier_from_text("sm2:" + _b64(bytes.fromhex(case["public_key"])))
    signature = encode_dss_signature(int(case["r"], 16), int(case["s"], 16))
    message = case["message_ascii"].encode("ascii")
    verifier.verify(message, signature)
    with pytest.raises(BadSignature):
        verifier.verify(message + b".", signature)
    tampered = encode_dss_signature(int(case["r"], 16), int(case["s"], 16) ^ 1)
    with pytest.raises(BadSignature):
        verifier.verify(message, tampered)
    # The key file of the example's private key gives the example's public key back.
    path = tmp_path / "example.sign.key"
    path.write_text("sm2:" + _b64(bytes.fromhex(case["private_key"])) + "\n", encoding="utf-8")
    signer = load_signer(path)
    assert signer.algorithm == SM2
    assert signer_file_text(signer).strip() == "sm2:" + _b64(bytes.fromhex(case["private_key"]))
    assert signer.public.raw.hex() == case["public_key"]
    verifier.verify(b"credgate", signer.sign(b"credgate"))



def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
