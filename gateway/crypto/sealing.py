"""Sealed boxes: answers sealed to a party's X25519 key (libsodium, through PyNaCl).

A sealed box (libsodium ``crypto_box_seal``) encrypts to a public key with a fresh
ephemeral X25519 key and XSalsa20-Poly1305; only the holder of the private key opens
it, and the sender keeps no way to. A TLS-terminating proxy between the gateway and
the party sees ciphertext only.

Key files are the text files of ``gateway.crypto.signatures`` (comment lines, then the
base64 of 32 raw bytes): ``<party>.box.key`` (private) and ``<party>.box.pub``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.public

from gateway.errors import ConfigurationError, DecryptionError

__all__ = ["BoxKey", "BoxPublicKey", "generate_box_key", "load_box_key", "load_box_public_key"]


@dataclass(frozen=True, eq=False)
class BoxPublicKey:
    """A party's registered X25519 public key; ``seal`` encrypts to it."""

    _key: Any

    def seal(self, plaintext: bytes) -> bytes:
        """The sealed box of bytes (48 bytes longer than the plaintext)."""
        return bytes(nacl.public.SealedBox(self._key).encrypt(bytes(plaintext)))

    def text(self) -> str:
        """The public key as base64 of its 32 raw bytes."""
        return base64.b64encode(bytes(self._key)).decode("ascii")


@dataclass(frozen=True, eq=False)
class BoxKey:
    """A party's X25519 private key; ``open`` opens what was sealed to it."""

    _key: Any

    def __repr__(self) -> str:
        return "BoxKey(...)"

    @property
    def public(self) -> BoxPublicKey:
        """The public half, to register at the gateway."""
        return BoxPublicKey(self._key.public_key)

    def open(self, sealed: bytes) -> bytes:
        """Open a sealed box; raises DecryptionError for anything that does not open."""
        try:
            return bytes(nacl.public.SealedBox(self._key).decrypt(bytes(sealed)))
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            raise DecryptionError() from None

    def text(self) -> str:
        """The private key as base64 of its 32 raw bytes (keep it secret)."""
        return base64.b64encode(bytes(self._key)).decode("ascii")


def generate_box_key() -> BoxKey:
    """A fresh X25519 key pair."""
    return BoxKey(nacl.public.PrivateKey.generate())


def _raw(path: Path) -> bytes:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"box key file cannot be read: {path} ({type(exc).__name__})"
                                 ) from None
    body = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    try:
        if len(body) != 1:
            raise ValueError
        raw = base64.b64decode(body[0], validate=True)
        if len(raw) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise ConfigurationError(f"box key file must hold one base64 line of 32 bytes: {path}"
                                 ) from None
    return raw


def load_box_key(path: Path) -> BoxKey:
    """Read an X25519 private key file; raises ConfigurationError when invalid."""
    return BoxKey(nacl.public.PrivateKey(_raw(path)))


def load_box_public_key(path: Path) -> BoxPublicKey:
    """Read an X25519 public key file; raises ConfigurationError when invalid."""
    return BoxPublicKey(nacl.public.PublicKey(_raw(path)))
