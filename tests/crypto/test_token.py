"""Keys in a PKCS#11 token (SoftHSM2): created there, used there, and failing closed."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11 import Attribute, KeyType

from gateway.app import Gateway
from gateway.audit.checkpoint import verify_checkpoint
from gateway.audit.shared import state_mac, state_mac_key
from gateway.audit.tree import TamperDetected
from gateway.cli import main
from gateway.config import Config
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.keyring import DATA_KEYS_FILE, load_keyring
from gateway.crypto.log_key import LOG_KEY_FILE, LOG_PUBLIC_FILE, load_log_key
from gateway.crypto.signatures import load_verify_key
from gateway.crypto.token import Token, TokenKey, TokenSettings, TokenSigner
from gateway.errors import (
    AuditUnavailable,
    ConfigurationError,
    DecryptionError,
    KeyStoreUnavailable,
)
from tests.crypto.softhsm import SoftHsm
from tests.live_gateway import LiveGateway
from tests.services.records_data import NAME, identity_record
from tests.support import ADULT, KEYS, POLICIES


@pytest.fixture(scope="module")
def token(softhsm: SoftHsm) -> Token:
    return Token(TokenSettings(softhsm.module, softhsm.label), pin=softhsm.pin)


@pytest.fixture
def pin(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDGATE_PKCS11_PIN", softhsm.pin)


@pytest.fixture(scope="module")
def token_keys(softhsm: SoftHsm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The development key set, with its master and blind-index keys made in the token."""
    keys = tmp_path_factory.mktemp("token") / "keys"
    shutil.copytree(KEYS, keys)
    os.environ["CREDGATE_PKCS11_PIN"] = softhsm.pin
    try:
        assert main(["keys", "init", str(keys), "--force", "--pkcs11", softhsm.module,
                     "--token", softhsm.label]) == 0
    finally:
        del os.environ["CREDGATE_PKCS11_PIN"]
    return keys


def test_the_token_seals_byte_for_byte_as_aes_256_gcm(token: Token) -> None:
    """A blob does not depend on where its master key lives (same AEAD, same bytes)."""
    token.run(lambda: token._session.generate_key(
        KeyType.AES, 256, label="mk-compare", store=False,
        template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}))
    held = TokenKey(token, "mk-compare", "aes")
    raw = bytes(held._handle[Attribute.VALUE])
    nonce, aad = bytes(12), b"context"
    sealed = held.aead().encrypt(nonce, b"data key", aad)
    assert AESGCM(raw).decrypt(nonce, sealed, aad) == b"data key"
    assert held.aead().decrypt(nonce, AESGCM(raw).encrypt(nonce, b"x", aad), aad) == b"x"


def test_keys_init_pkcs11_makes_keys_that_never_leave_the_token(
        token_keys: Path, softhsm: SoftHsm, pin: None) -> None:
    text = (token_keys / DATA_KEYS_FILE).read_text()
    assert "[pkcs11]" in text and softhsm.label in text and softhsm.pin not in text
    keyring = load_keyring(token_keys)
    master = keyring.master_keys[keyring.active_master_id]
    index = keyring.index_keys[keyring.active_index_id]
    assert isinstance(master, TokenKey) and isinstance(index, TokenKey)
    for key in (master, index):
        assert key._handle[Attribute.SENSITIVE] and not key._handle[Attribute.EXTRACTABLE]
    cipher = FieldCipher(keyring)
    blob = cipher.seal(FieldContext("r", "c", "f"), "值")
    assert cipher.open(FieldContext("r", "c", "f"), blob) == "值"
    with pytest.raises(DecryptionError):
        cipher.open(FieldContext("r2", "c", "f"), blob)


def test_a_gateway_with_token_keys_serves_and_fails_closed_when_the_token_goes(
        live_factory: Callable[..., LiveGateway], token_keys: Path, pin: None) -> None:
    live = live_factory(keys_dir=token_keys)
    live.client("public_security", token_keys).submit_records([identity_record()])
    reply = live.client("org_department", token_keys).query_subject(ADULT, "cadre_selection")
    assert [f.value for r in reply.records for f in r.fields if f.name == "name"] == [NAME]
    assert live.gw.keyring.token is not None
    live.gw.keyring.token.close()  # the token is gone (removed, session lost)
    with pytest.raises(grpc.RpcError) as refused:
        live.client("org_department", token_keys).query_subject(ADULT, "cadre_selection")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert NAME not in str(refused.value.details())


@pytest.mark.parametrize("breakage", ["no pin", "wrong pin", "no such token", "no such key",
                                      "no such log key", "log key without a token"])
def test_a_gateway_whose_token_is_unavailable_does_not_start(
        token_keys: Path, tmp_path: Path, softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch,
        breakage: str) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(token_keys, keys)
    text = (keys / DATA_KEYS_FILE).read_text()
    monkeypatch.setenv("CREDGATE_PKCS11_PIN", "0000" if breakage == "wrong pin" else softhsm.pin)
    if breakage == "no pin":
        monkeypatch.delenv("CREDGATE_PKCS11_PIN")
    elif breakage == "no such token":
        text = text.replace(f'"{softhsm.label}"', '"not-there"')
    elif breakage == "no such key":
        text = text.replace('"mk-', '"mk-0')
    elif breakage == "no such log key":
        (keys / LOG_KEY_FILE).write_text("pkcs11:lk-not-there\n")
    elif breakage == "log key without a token":
        text = text.replace("[pkcs11]", "[not_pkcs11]")
        text = text.replace('"pkcs11"', '"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="')
    (keys / DATA_KEYS_FILE).write_text(text)
    with pytest.raises(ConfigurationError):
        Gateway.open(Config(data_dir=tmp_path / "d", keys_dir=keys, policies_dir=POLICIES))


def test_rotation_makes_the_new_key_in_the_token_and_reencrypt_moves_records_to_it(
        live_factory: Callable[..., LiveGateway], token_keys: Path, tmp_path: Path,
        pin: None, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(token_keys, keys)
    live = live_factory(keys_dir=keys)
    live.client("public_security", keys).submit_records([identity_record()])
    assert main(["keys", "rotate", "master", "--keys", str(keys)]) == 0
    assert main(["keys", "rotate", "index", "--keys", str(keys)]) == 0
    rotated = load_keyring(keys)
    for key in (rotated.master_keys[rotated.active_master_id],
                rotated.index_keys[rotated.active_index_id]):
        assert isinstance(key, TokenKey) and not key._handle[Attribute.EXTRACTABLE]
    assert len(live.gw.reload_keys()) == 2
    capsys.readouterr()
    assert main(["keys", "reencrypt", "--keys", str(keys),
                 "--data-dir", str(live.gw.config.data_dir)]) == 0
    out = capsys.readouterr()
    assert "1 record(s) moved" in out.out and "re-encrypting" in out.err
    reply = live.client("org_department", keys).query_subject(ADULT, "cadre_selection")
    assert [f.value for r in reply.records for f in r.fields if f.name == "name"] == [NAME]


def test_the_log_key_lives_in_the_token_signs_checkpoints_and_keys_the_state_mac(
        live_factory: Callable[..., LiveGateway], token_keys: Path, tmp_path: Path,
        pin: None) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(token_keys, keys)
    text = (keys / LOG_KEY_FILE).read_text()
    assert "pkcs11:lk-" in text  # a reference: no key bytes in the file
    live = live_factory(keys_dir=keys)
    log_key = live.gw.log_key
    assert isinstance(log_key, TokenSigner)
    for handle in (log_key._key, log_key.state_mac._handle):
        assert handle[Attribute.SENSITIVE] and not handle[Attribute.EXTRACTABLE]
    live.client("public_security", keys).submit_records([identity_record()])
    note = live.gw.audit_evidence.checkpointer.checkpoint_now().note
    # Plain Ed25519: the regulator verifies with gateway.log.pub alone.
    assert verify_checkpoint(note, load_verify_key(keys / LOG_PUBLIC_FILE)).size >= 1
    # A state row whose MAC was not made in the token is refused at the next read.
    assert live.gw.audit.state()[0] >= 1
    with sqlite3.connect(live.gw.config.audit_db, isolation_level=None) as db:
        db.execute("UPDATE tlog_state SET mac = ? WHERE id = 1", (bytes(32),))
    with pytest.raises(TamperDetected):
        live.gw.audit.state()
    with pytest.raises(grpc.RpcError) as refused:
        live.client("org_department", keys).query_subject(ADULT, "cadre_selection")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_token_log_key_fails_closed_when_the_token_goes(
        token_keys: Path, tmp_path: Path, softhsm: SoftHsm, pin: None) -> None:
    keyring = load_keyring(token_keys)
    signer = load_log_key(token_keys / LOG_KEY_FILE, keyring.token)
    assert keyring.token is not None
    keyring.token.close()
    with pytest.raises(KeyStoreUnavailable):
        signer.sign(b"checkpoint")
    with pytest.raises(AuditUnavailable):
        state_mac(state_mac_key(signer), "origin", 1, bytes(32))


def test_rotating_a_token_log_key_makes_the_new_one_in_the_token(
        token_keys: Path, tmp_path: Path, pin: None) -> None:
    from gateway.config import load_config
    from gateway.rotation.log import rotate_log_key

    keys = tmp_path / "keys"
    shutil.copytree(token_keys, keys)
    old_line = (keys / LOG_KEY_FILE).read_text().splitlines()[-1]
    config = load_config(None, keys_dir=keys, data_dir=tmp_path / "data",
                         policies_dir=POLICIES, development="true")
    done = rotate_log_key(config)
    new_line = (keys / LOG_KEY_FILE).read_text().splitlines()[-1]
    assert new_line.startswith("pkcs11:lk-") and new_line != old_line
    keyring = load_keyring(keys)
    signer = load_log_key(keys / LOG_KEY_FILE, keyring.token)
    assert isinstance(signer, TokenSigner) and signer.public.key_id == done.new_key_id
    assert not signer._key[Attribute.EXTRACTABLE]
    assert verify_checkpoint(done.closed.note,
                             load_verify_key(done.retired_public_key)).size == done.closed.size
