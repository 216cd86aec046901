"""Raw primitives: AES-256-GCM, HMAC-SHA256, random keys.

.. danger::

    This is a hazardous-materials module, like ``cryptography.hazmat``. Nothing
    outside ``gateway/crypto/`` may import it (``tests/crypto/test_boundary.py``
    enforces this). These functions know nothing about associated-data layout,
    key ids or nonce reuse across callers; the safe recipes built on them are
    ``gateway.crypto.fields`` and ``gateway.crypto.blind_index``.

Every primitive comes from ``cryptography``; nothing here is hand-made.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "Aead",
    "AuthenticationFailed",
    "BytesLike",
    "aead",
    "hmac_sha256",
    "hmac_sha256_after",
    "open_",
    "random_key",
    "random_nonce",
    "seal",
]

KEY_SIZE = 32  # AES-256 and HMAC-SHA256 keys, bytes
NONCE_SIZE = 12  # AES-GCM 96-bit nonce (NIST SP 800-38D §8.2.2: random nonces)
TAG_SIZE = 16  # AES-GCM 128-bit tag

Aead = AESGCM
# collections.abc.Buffer arrives in Python 3.12; these are the buffers we pass.
BytesLike = bytes | bytearray | memoryview


class AuthenticationFailed(Exception):
    """The AEAD tag did not verify (wrong key, wrong associated data, altered bytes)."""


def random_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_SIZE)


def random_nonce() -> bytes:
    """A fresh random 96-bit AES-GCM nonce."""
    return os.urandom(NONCE_SIZE)


def aead(key: bytes) -> AESGCM:
    """An AES-256-GCM object for a 32-byte key (callers should cache it for long-lived keys)."""
    if len(key) != KEY_SIZE:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    return AESGCM(key)


def seal(cipher: AESGCM, nonce: BytesLike, plaintext: BytesLike, aad: BytesLike) -> bytes:
    """AES-GCM encrypt; returns ciphertext || tag. The nonce must never repeat for a key."""
    return cipher.encrypt(nonce, plaintext, aad)


def open_(cipher: AESGCM, nonce: BytesLike, ciphertext: BytesLike, aad: BytesLike) -> bytes:
    """AES-GCM decrypt; raises AuthenticationFailed when the tag does not verify."""
    try:
        return cipher.decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError) as exc:
        raise AuthenticationFailed from exc


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) of a message; 32 bytes."""
    mac = _hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def hmac_sha256_after(key: bytes, prefix: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 of ``prefix || message`` as a function of the message.

    The keyed state after ``prefix`` is computed once and copied per call, which is a
    third of the cost of a fresh HMAC for short messages (pseudonyms of a whole feed).
    """
    template = _hmac.HMAC(key, hashes.SHA256())
    template.update(prefix)

    def mac(message: bytes) -> bytes:
        state = template.copy()
        state.update(message)
        return state.finalize()

    return mac
