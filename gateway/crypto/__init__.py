"""credgate's cryptography: safe recipes on top, sharp primitives hidden below.

- ``encrypt_field`` / ``decrypt_field`` (and ``*_bytes``): field-level envelope
  encryption with AES-256-GCM, bound to record, category and field, with the master
  key id inside each ciphertext so master keys can rotate. Every failure to decrypt
  raises one opaque ``DecryptionError``.
- ``blind_index`` / ``blind_indexes``: the keyed HMAC-SHA256 index that stands in for
  the ID number in storage and lookups; ``keyed_digest`` for other keyed equality tests.
- ``sign`` / ``verify``: Ed25519 detached signatures (PyNaCl); ``verify`` raises
  ``BadSignature``.
- ``Keyring`` / ``load_keyring``: the data keys from ``data-keys.toml``.

The raw AEAD, HMAC and key generation live in ``gateway.crypto._primitives``, which
nothing outside this package may import (``tests/crypto/test_boundary.py`` checks it).
"""

from __future__ import annotations

from gateway.crypto.blind_index import blind_index, blind_indexes, keyed_digest
from gateway.crypto.fields import decrypt_bytes, decrypt_field, encrypt_bytes, encrypt_field
from gateway.crypto.keyring import Keyring, load_keyring
from gateway.crypto.signatures import load_signing_key, load_verify_key, sign, verify

__all__ = [
    "Keyring",
    "blind_index",
    "blind_indexes",
    "decrypt_bytes",
    "decrypt_field",
    "encrypt_bytes",
    "encrypt_field",
    "keyed_digest",
    "load_keyring",
    "load_signing_key",
    "load_verify_key",
    "sign",
    "verify",
]
