"""Raw primitives: AES-256-GCM and SM4-GCM, HMAC-SHA256 and HMAC-SM3, SM3, random keys.

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
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "Aead",
    "AeadLike",
    "AuthenticationFailed",
    "BytesLike",
    "Sm4Gcm",
    "aead",
    "digest",
    "hmac",
    "hmac_after",
    "hmac_sha256",
    "hmac_sha256_after",
    "open_",
    "random_key",
    "random_nonce",
    "seal",
    "sm3",
    "sm4_gcm",
]

KEY_SIZE = 32  # AES-256, HMAC-SHA256 and HMAC-SM3 keys, bytes
SM4_KEY_SIZE = 16  # SM4 has a 128-bit key (GB/T 32907-2016)
NONCE_SIZE = 12  # AES-GCM 96-bit nonce (NIST SP 800-38D §8.2.2: random nonces)
TAG_SIZE = 16  # AES-GCM 128-bit tag


class Sm4Gcm:
    """SM4 in GCM mode with AESGCM's interface: ``encrypt`` returns ciphertext || tag.

    ``cryptography`` has no SM4 AEAD class, so this drives OpenSSL's SM4-GCM through the
    Cipher API; GCM itself (NIST SP 800-38D over a 128-bit block cipher) and SM4 are
    OpenSSL's, and RFC 8998 §A.1's vector pins the result (tests/crypto/test_gm_vectors.py).
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != SM4_KEY_SIZE:
            raise ValueError("SM4 needs a 16-byte key")
        self._key = bytes(key)

    def encrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike) -> bytes:
        """SM4-GCM encrypt; returns ciphertext || 16-byte tag."""
        enc = Cipher(algorithms.SM4(self._key), modes.GCM(bytes(nonce))).encryptor()
        enc.authenticate_additional_data(bytes(associated_data))
        body = enc.update(bytes(data)) + enc.finalize()
        return body + enc.tag

    def decrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike) -> bytes:
        """SM4-GCM decrypt of ciphertext || tag; raises InvalidTag when it does not verify."""
        raw = bytes(data)
        if len(raw) < TAG_SIZE:
            raise InvalidTag()
        dec = Cipher(algorithms.SM4(self._key),
                     modes.GCM(bytes(nonce), raw[-TAG_SIZE:], min_tag_length=TAG_SIZE)
                     ).decryptor()
        dec.authenticate_additional_data(bytes(associated_data))
        return dec.update(raw[:-TAG_SIZE]) + dec.finalize()


Aead = AESGCM | Sm4Gcm


class AeadLike(Protocol):
    """What the recipes need of an AEAD: AESGCM, Sm4Gcm, or a key held in a token."""

    def encrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike
                ) -> bytes: ...  # pragma: no cover

    def decrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike
                ) -> bytes: ...  # pragma: no cover
# collections.abc.Buffer arrives in Python 3.12; these are the buffers we pass.
BytesLike = bytes | bytearray | memoryview


class AuthenticationFailed(Exception):
    """The AEAD tag did not verify (wrong key, wrong associated data, altered bytes)."""


def random_key(size: int = KEY_SIZE) -> bytes:
    """A fresh key (256 bits unless told) from the operating system's CSPRNG."""
    return os.urandom(size)


def random_nonce() -> bytes:
    """A fresh random 96-bit AES-GCM nonce."""
    return os.urandom(NONCE_SIZE)


def aead(key: bytes) -> AESGCM:
    """An AES-256-GCM object for a 32-byte key (callers should cache it for long-lived keys)."""
    if len(key) != KEY_SIZE:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    return AESGCM(key)


def sm4_gcm(key: bytes) -> Sm4Gcm:
    """An SM4-GCM object for a 16-byte key."""
    return Sm4Gcm(key)


def seal(cipher: AeadLike, nonce: BytesLike, plaintext: BytesLike, aad: BytesLike) -> bytes:
    """AEAD encrypt; returns ciphertext || tag. The nonce must never repeat for a key."""
    return cipher.encrypt(nonce, plaintext, aad)


def open_(cipher: AeadLike, nonce: BytesLike, ciphertext: BytesLike, aad: BytesLike) -> bytes:
    """AEAD decrypt; raises AuthenticationFailed when the tag does not verify."""
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


def _hash(name: str) -> hashes.HashAlgorithm:
    if name == "sha256":
        return hashes.SHA256()
    if name == "sm3":
        return hashes.SM3()
    raise ValueError("unknown hash")


def hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) over SHA-256 or SM3 (GB/T 32905-2016); 32 bytes either way."""
    mac = _hmac.HMAC(key, _hash(hash_name))
    mac.update(message)
    return mac.finalize()


def hmac_after(hash_name: str, key: bytes, prefix: bytes) -> Callable[[bytes], bytes]:
    """``hmac_sha256_after`` for SHA-256 or SM3."""
    template = _hmac.HMAC(key, _hash(hash_name))
    template.update(prefix)

    def mac(message: bytes) -> bytes:
        state = template.copy()
        state.update(message)
        return state.finalize()

    return mac


def digest(hash_name: str, data: bytes) -> bytes:
    """SHA-256 or SM3 of bytes."""
    h = hashes.Hash(_hash(hash_name))
    h.update(data)
    return h.finalize()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) of bytes; 32 bytes."""
    return digest("sm3", data)
