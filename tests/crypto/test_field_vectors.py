"""The field-blob format is pinned: FieldCipher opens, seals and rotates the vectors of
tests/vectors/fields/ byte for byte (blobs stored before stay readable)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway.crypto import _primitives as p
from gateway.crypto.fields import FieldCipher, FieldContext, key_id_of, suite_of
from gateway.crypto.keyring import Keyring
from gateway.crypto.suites import Suite
from gateway.errors import DecryptionError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "fields"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_field_vectors",
                                                  VECTORS / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vectors() -> list[dict[str, Any]]:
    doc = json.loads((VECTORS / "fields.json").read_text(encoding="utf-8"))
    return list(doc["vectors"])


def _keyring(vector: dict[str, Any]) -> Keyring:
    keys = {vector["key_id"]: bytes.fromhex(vector["master_key"])}
    if "from_key_id" in vector:
        keys[vector["from_key_id"]] = bytes.fromhex(vector["from_master_key"])
    suite = vector["suite"]
    return Keyring(master_keys=keys, active_master_id=vector["key_id"],
                   master_suites=dict.fromkeys(keys, suite),
                   index_keys={"bi-vector": p.random_key()}, active_index_id="bi-vector",
                   index_suites={"bi-vector": suite},
                   pseudonym_keys={"ps-vector": p.random_key()},
                   active_pseudonym_id="ps-vector", pseudonym_suites={"ps-vector": suite})


def _context(vector: dict[str, Any]) -> FieldContext:
    return FieldContext(vector["record_id"], vector["category"], vector["field"])


def _value(vector: dict[str, Any]) -> bytes:
    return vector["text"].encode() if "text" in vector else bytes.fromhex(vector["bytes"])


def _fixed_randomness(monkeypatch: pytest.MonkeyPatch, vector: dict[str, Any],
                      nonces: list[str]) -> None:
    """The vector's data key and nonces where the cipher asks for fresh ones."""
    queue: Iterator[bytes] = iter(bytes.fromhex(vector[n]) for n in nonces)
    monkeypatch.setattr(p, "random_nonce", lambda: next(queue))
    monkeypatch.setattr(Suite, "random_key", lambda _self: bytes.fromhex(vector["data_key"]))


def test_the_file_is_what_the_generator_writes() -> None:
    written = json.loads((VECTORS / "fields.json").read_text(encoding="utf-8"))
    assert _generator().vectors() == written


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["name"])
def test_the_cipher_opens_every_vector(vector: dict[str, Any]) -> None:
    cipher, blob = FieldCipher(_keyring(vector)), bytes.fromhex(vector["blob"])
    assert cipher.open_bytes(_context(vector), blob) == _value(vector)
    if "text" in vector:
        assert cipher.open(_context(vector), blob) == vector["text"]
    assert (key_id_of(blob), suite_of(blob)) == (vector["key_id"], vector["suite"])
    with pytest.raises(DecryptionError):
        cipher.open_bytes(FieldContext(vector["record_id"], vector["category"], "other"),
                          blob)


@pytest.mark.parametrize("vector", [v for v in _vectors() if "from_blob" not in v],
                         ids=lambda v: v["name"])
def test_the_cipher_seals_the_very_same_bytes(vector: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # _seal draws the value nonce, then _wrap the wrap nonce.
    _fixed_randomness(monkeypatch, vector, ["value_nonce", "wrap_nonce"])
    cipher = FieldCipher(_keyring(vector))
    if "text" in vector:
        sealed = cipher.seal(_context(vector), vector["text"])
    else:
        sealed = cipher.seal_bytes(_context(vector), _value(vector))
    assert sealed.hex() == vector["blob"]


@pytest.mark.parametrize("vector", [v for v in _vectors() if "from_blob" in v],
                         ids=lambda v: v["name"])
def test_rotate_rewraps_to_the_very_same_bytes(vector: dict[str, Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_randomness(monkeypatch, vector, ["wrap_nonce"])
    moved = FieldCipher(_keyring(vector)).rotate(_context(vector),
                                                 bytes.fromhex(vector["from_blob"]))
    assert moved.hex() == vector["blob"]
