"""Both cipher suites in one store: each blob, index and key names its suite."""

from __future__ import annotations

import pytest

from gateway.crypto.blind_index import blind_index, blind_indexes, keyed_digest, pseudonym
from gateway.crypto.fields import FieldCipher, FieldContext, suite_of
from gateway.crypto.keyring import Keyring, generate_keyring, keyring_toml, parse_keyring_toml
from gateway.crypto.signers import ED25519, SM2, generate_signer, verifier_from_text
from gateway.errors import BadSignature, ConfigurationError, DecryptionError

ID = "11010519491231002X"
CONTEXT = FieldContext("r-1", "identity", "name")


@pytest.fixture(scope="module")
def gm() -> Keyring:
    return generate_keyring("gm")


def test_gm_keyring_seals_with_sm4_and_indexes_with_hmac_sm3(gm: Keyring) -> None:
    assert gm.suite.name == "gm"
    assert all(len(key) == 16 for key in gm.master_keys.values())
    blob = FieldCipher(gm).seal(CONTEXT, "张三")
    assert blob[0] == 0x02 and suite_of(blob) == "gm"
    assert FieldCipher(gm).open(CONTEXT, blob) == "张三"
    with pytest.raises(DecryptionError):
        FieldCipher(gm).open(CONTEXT._replace(record_id="r-2"), blob)
    # The same key bytes give another index under HMAC-SHA256: the suite is the key's.
    as_international = Keyring(
        master_keys={"mk": bytes(32)}, active_master_id="mk",
        index_keys=dict(gm.index_keys), active_index_id=gm.active_index_id,
        pseudonym_keys=dict(gm.pseudonym_keys), active_pseudonym_id=gm.active_pseudonym_id)
    assert blind_index(gm, ID) != blind_index(as_international, ID)
    assert keyed_digest(gm, b"x") != keyed_digest(as_international, b"x")
    assert pseudonym(gm, audience="a", value="v") != pseudonym(
        as_international, audience="a", value="v")


def test_a_store_holding_both_suites_reads_both_and_reencrypts_to_the_active_one() -> None:
    old = generate_keyring()
    old_blob = FieldCipher(old).seal(CONTEXT, "李四")
    old_index = blind_index(old, ID)
    moved = old.with_suite("gm")
    assert moved.suite.name == "gm" and moved.active_suites() == {"gm"}
    reloaded = parse_keyring_toml(keyring_toml(moved))
    assert dict(reloaded.master_suites) == dict(moved.master_suites)
    new_blob = FieldCipher(reloaded).seal(CONTEXT, "王五")
    assert (suite_of(old_blob), suite_of(new_blob)) == ("international", "gm")
    assert FieldCipher(reloaded).open(CONTEXT, old_blob) == "李四"
    assert FieldCipher(reloaded).open(CONTEXT, new_blob) == "王五"
    assert old_index in blind_indexes(reloaded, ID)
    assert blind_indexes(reloaded, ID)[0].startswith(f"{reloaded.active_index_id}:")
    assert reloaded.index_suites[reloaded.active_index_id] == "gm"
    rewrapped = FieldCipher(reloaded).rotate(CONTEXT, old_blob)
    assert suite_of(rewrapped) == "gm"
    assert FieldCipher(reloaded).open(CONTEXT, rewrapped) == "李四"


def test_a_blob_never_opens_under_a_key_of_the_other_suite() -> None:
    both = generate_keyring().with_new_master("mk-gm", suite_name="gm")
    blob = FieldCipher(both).seal(CONTEXT, "x")
    # Relabel the gm blob with the international key's id (same length ids keep the layout).
    international_id = next(k for k, s in both.master_suites.items() if s == "international")
    forged = bytes([0x02, len(international_id)]) + international_id.encode() + blob[2 + blob[1]:]
    with pytest.raises(DecryptionError):
        FieldCipher(both).open(CONTEXT, forged)
    # And the suite byte itself is authenticated: flipping it to 0x01 does not open.
    with pytest.raises(DecryptionError):
        FieldCipher(both).open(CONTEXT, bytes([0x01]) + blob[1:])
    with pytest.raises(DecryptionError):
        FieldCipher(both).open(CONTEXT, bytes([0x03]) + blob[1:])


@pytest.mark.parametrize("change", [
    {"master_suites": {"mk": "gm"}},                      # a 32-byte key cannot be SM4
    {"master_keys": {"mk": bytes(16)}},                   # a 16-byte key cannot be AES-256
    {"master_suites": {"mk": "rot13"}},                    # an unknown suite
    {"master_suites": {"other": "gm"}},                    # a suite for a key not there
])
def test_the_keyring_refuses_keys_that_do_not_fit_their_suite(change: dict) -> None:
    settings = dict(master_keys={"mk": bytes(32)}, active_master_id="mk",
                    index_keys={"bi": bytes(range(32))}, active_index_id="bi",
                    pseudonym_keys={"ps": bytes(range(1, 33))}, active_pseudonym_id="ps")
    with pytest.raises(ConfigurationError):
        Keyring(**{**settings, **change})


def test_the_key_file_refuses_an_unknown_suite_name() -> None:
    text = keyring_toml(generate_keyring("gm")).replace('" = "gm"\n', '" = "GM"\n', 1)
    assert '"GM"' in text
    with pytest.raises(ConfigurationError):
        parse_keyring_toml(text)


@pytest.mark.parametrize("algorithm", [ED25519, SM2])
def test_signers_round_trip_and_refuse_the_other_algorithm(algorithm: str) -> None:
    signer = generate_signer(algorithm)
    public = verifier_from_text(signer.public.text())
    signature = signer.sign(b"answer")
    public.verify(b"answer", signature, algorithm=algorithm)
    other = ED25519 if algorithm == SM2 else SM2
    for bad in (lambda: public.verify(b"answer", signature, algorithm=other),
                lambda: public.verify(b"answer!", signature),
                lambda: public.verify(b"answer", signature[:-1]),
                lambda: public.verify(b"answer", b""),
                lambda: generate_signer(algorithm).public.verify(b"answer", signature)):
        with pytest.raises(BadSignature):
            bad()
    assert "sm2:" in repr(public.text()) if algorithm == SM2 else ":" not in public.text()


def test_a_request_signed_with_an_sm2_key_keeps_an_sm3_digest() -> None:
    from gateway.crypto import _primitives as p
    from gateway.identify.request_signing import request_digest

    salt, body = bytes(32), b"request bytes"
    sm2 = generate_signer(SM2)
    assert request_digest(salt, body, sm2) == p.sm3(salt + body).hex()
    assert request_digest(salt, body, sm2.public) == p.sm3(salt + body).hex()
    assert request_digest(salt, body, generate_signer(ED25519)._key) == request_digest(
        salt, body)
