"""Ed25519 signatures, key files and the C2SP signed-note key hash."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nacl.signing
import pytest

from gateway.crypto.signatures import (
    format_key_file,
    key_id,
    load_signing_key,
    load_verify_key,
    note_key_hash,
    note_verifier_key,
    public_key_text,
    sign,
    verify,
)
from gateway.errors import BadSignature, ConfigurationError, PermissionDenied

VECTORS = Path(__file__).parent / "vectors"
KEY = nacl.signing.SigningKey(bytes(range(32)))
MESSAGE = b"consent artefact: subject, grantee, purpose, scope, validity"


def test_valid_signature_verifies() -> None:
    signature = sign(KEY, MESSAGE)
    assert len(signature) == 64
    verify(KEY.verify_key, MESSAGE, signature)


def test_tampered_message_is_refused() -> None:
    signature = sign(KEY, MESSAGE)
    with pytest.raises(BadSignature):
        verify(KEY.verify_key, MESSAGE + b".", signature)


def test_tampered_signature_is_refused() -> None:
    signature = bytearray(sign(KEY, MESSAGE))
    signature[10] ^= 0x01
    with pytest.raises(BadSignature):
        verify(KEY.verify_key, MESSAGE, bytes(signature))


def test_signature_by_another_key_is_refused() -> None:
    other = nacl.signing.SigningKey.generate()
    with pytest.raises(BadSignature):
        verify(KEY.verify_key, MESSAGE, sign(other, MESSAGE))


@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(65), "0" * 64, None], ids=repr)
def test_malformed_signature_is_refused(signature: object) -> None:
    with pytest.raises(BadSignature):
        verify(KEY.verify_key, MESSAGE, signature)  # type: ignore[arg-type]


def test_bad_signature_is_a_permission_denial_with_a_reason() -> None:
    with pytest.raises(PermissionDenied) as caught:
        verify(KEY.verify_key, MESSAGE, bytes(64))
    assert isinstance(caught.value, BadSignature)
    assert caught.value.reason == "bad_signature"
    assert caught.value.status == "PERMISSION_DENIED"


def test_key_files_round_trip_with_comment_lines(tmp_path: Path) -> None:
    private, public = tmp_path / "p.sign.key", tmp_path / "p.sign.pub"
    private.write_text(format_key_file(KEY, comments=["DEVELOPMENT KEY", "second line"]))
    public.write_text(format_key_file(KEY.verify_key, comments=["public"]))
    assert private.read_text().startswith("# DEVELOPMENT KEY\n# second line\n")
    assert bytes(load_signing_key(private)) == bytes(KEY)
    assert load_verify_key(public) == KEY.verify_key
    assert public.read_text().splitlines()[-1] == public_key_text(KEY.verify_key)


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "AAAA\nAAAA\n", "not base64!\n",
     base64.b64encode(bytes(31)).decode() + "\n"],
    ids=["empty", "comment-only", "two-lines", "not-base64", "short-key"],
)
def test_unusable_key_file_is_a_configuration_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.sign.key"
    path.write_text(text)
    with pytest.raises(ConfigurationError):
        load_signing_key(path)
    with pytest.raises(ConfigurationError):
        load_verify_key(path)


def test_missing_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_verify_key(tmp_path / "absent.sign.pub")


def test_key_id_is_short_stable_hex() -> None:
    assert key_id(KEY.verify_key) == key_id(nacl.signing.SigningKey(bytes(KEY)).verify_key)
    assert len(key_id(KEY.verify_key)) == 16
    int(key_id(KEY.verify_key), 16)


def test_note_key_hash_matches_the_go_sumdb_vector() -> None:
    vector = json.loads((VECTORS / "note-ed25519-go-sumdb.json").read_text())
    encoded_seed = vector["signer_key"].split("+", 4)[4]
    seed = base64.b64decode(encoded_seed)[1:]  # drop the 0x01 algorithm byte
    key = nacl.signing.SigningKey(seed)
    assert note_key_hash(vector["name"], key.verify_key).hex() == vector["key_hash_hex"]
    assert note_verifier_key(vector["name"], key.verify_key) == vector["verifier_key"]
    blob = base64.b64decode(vector["signature_b64"])
    assert blob[:4].hex() == vector["key_hash_hex"]
    assert sign(key, vector["text"].encode()) == blob[4:]


def test_note_key_hash_depends_on_the_name() -> None:
    assert note_key_hash("a.example/log", KEY.verify_key) != note_key_hash(
        "b.example/log", KEY.verify_key
    )


@pytest.mark.parametrize("name", ["", "with space", "a+b"], ids=repr)
def test_note_key_name_that_breaks_the_format_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError):
        note_key_hash(name, KEY.verify_key)
