"""Cipher suites: which algorithms protect a value, chosen by configuration.

``international`` is AES-256-GCM, HMAC-SHA256, SHA-256 and Ed25519 (RFC 8032).
``gm`` is the Chinese commercial suite GB/T 39786-2021 expects: SM4-GCM (GB/T 32907
block cipher in NIST SP 800-38D's GCM, as RFC 8998 uses it), HMAC-SM3 (GB/T 32905),
SM3 and SM2 signatures (GB/T 32918, default user id "1234567812345678").

A suite is recorded beside everything it protects, so one store can hold both:

- a field blob starts with the suite's ``code`` (0x01 international, 0x02 gm);
- a key in the keyring is tied to one suite (``[<set>.suites]`` in data-keys.toml), and
  a blind index or pseudonym names its key id, hence its suite;
- a signature made by ``gateway.crypto.signatures`` names its algorithm.

The audit tree is not here: it stays SHA-256, as RFC 6962 and the C2SP formats define it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.crypto import _primitives as p
from gateway.errors import ConfigurationError

__all__ = ["GM", "INTERNATIONAL", "SUITES", "Suite", "by_code", "suite"]

INTERNATIONAL = "international"
GM = "gm"


@dataclass(frozen=True)
class Suite:
    """The algorithms of one suite and the sizes its blobs use."""

    name: str
    #: First byte of every field blob sealed under this suite.
    code: int
    #: Size of a data key and of a master (key-encryption) key, bytes.
    key_size: int
    #: Hash of the HMACs (blind index, keyed digest, pseudonym) and of stored digests.
    hash_name: str
    #: Signature algorithm of keys made for this suite.
    signature: str

    def aead(self, key: bytes) -> p.Aead:
        """The suite's AEAD over a key of ``key_size`` bytes; raises ValueError otherwise."""
        return p.aead(key) if self.name == INTERNATIONAL else p.sm4_gcm(key)

    def random_key(self) -> bytes:
        """A fresh data or master key of the suite's size."""
        return p.random_key(self.key_size)

    def mac(self, key: bytes, message: bytes) -> bytes:
        """The suite's HMAC of a message (32 bytes)."""
        return p.hmac(self.hash_name, key, message)

    def digest(self, data: bytes) -> bytes:
        """The suite's digest of bytes (32 bytes), for digests that are stored."""
        return p.digest(self.hash_name, data)


_INTERNATIONAL = Suite(name=INTERNATIONAL, code=0x01, key_size=p.KEY_SIZE,
                       hash_name="sha256", signature="ed25519")
_GM = Suite(name=GM, code=0x02, key_size=p.SM4_KEY_SIZE, hash_name="sm3", signature="sm2")
SUITES = {INTERNATIONAL: _INTERNATIONAL, GM: _GM}
_BY_CODE = {s.code: s for s in SUITES.values()}


def suite(name: str) -> Suite:
    """The suite of a name; raises ConfigurationError for an unknown one."""
    try:
        return SUITES[name]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"unknown cipher suite (choose one of {', '.join(SUITES)})") from None


def by_code(code: int) -> Suite | None:
    """The suite whose field blobs start with this byte, or None."""
    return _BY_CODE.get(code)
