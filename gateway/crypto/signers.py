"""Signing keys of either suite behind one interface: Ed25519 (PyNaCl) or SM2 (Tongsuo).

SM2 (GB/T 32918.2-2016) signs over SM3 with the standard's default user id
"1234567812345678" (GB/T 35276-2017 §10), as Tongsuo does when no id is set; the
signature is the DER ``SM2Signature`` SEQUENCE { r, s }. SM2 comes from ``tongsuopy``,
the binding of Tongsuo (the OpenSSL fork maintained for these algorithms); nothing here
computes a curve operation itself. ``tests/crypto/test_gm_vectors.py`` checks it against
the GB/T 32918.5 example.

Key files are the text files of ``gateway.crypto.signatures``; an SM2 key's base64 line
carries the prefix ``sm2:`` (private: the 32-byte scalar; public: the 65-byte
uncompressed point 04 || x || y), an Ed25519 key's line has none. Every signature made
here travels with its algorithm name (``ed25519`` or ``sm2``), and a verifier refuses a
signature that names another algorithm than its key's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
from tongsuopy.crypto import hashes as _ts_hashes
from tongsuopy.crypto import serialization as _ts_serialization
from tongsuopy.crypto.asymciphers import ec as _ts_ec

from gateway.errors import BadSignature, ConfigurationError

__all__ = [
    "ED25519", "SM2", "SM2_DEFAULT_USER_ID", "Signer", "Verifier", "ed25519_verifier",
    "generate_signer", "key_file_line",
    "load_signer", "load_verifier", "signer_file_text", "verifier_file_text",
    "verifier_from_text",
]

ED25519 = "ed25519"
SM2 = "sm2"
#: GB/T 32918 / GB/T 35276 default distinguishing identifier, used by Tongsuo by default.
SM2_DEFAULT_USER_ID = b"1234567812345678"
_SM2_PREFIX = "sm2:"
_MAX_SM2_SIGNATURE = 80  # DER of two 256-bit integers is at most 72 bytes


def _sm2_algorithm() -> Any:
    return _ts_ec.ECDSA(_ts_hashes.SM3())


@dataclass(frozen=True, eq=False)
class Verifier:
    """A public key of either algorithm; ``verify`` raises BadSignature."""

    algorithm: str
    raw: bytes
    _key: Any

    def verify(self, message: bytes, signature: bytes, *, algorithm: str | None = None) -> None:
        """Check a detached signature; raises BadSignature when malformed, of another
        algorithm than this key's, or not valid."""
        if algorithm is not None and algorithm != self.algorithm:
            raise BadSignature()
        if isinstance(signature, memoryview):
            signature = signature.tobytes()
        if not isinstance(signature, bytes | bytearray):
            raise BadSignature()
        try:
            if self.algorithm == ED25519:
                if len(signature) != 64:
                    raise BadSignature()
                self._key.verify(bytes(message), bytes(signature))
            else:
                if not 8 <= len(signature) <= _MAX_SM2_SIGNATURE:
                    raise BadSignature()
                self._key.verify(bytes(signature), bytes(message), _sm2_algorithm())
        except BadSignature:
            raise
        except Exception:  # every library failure (bad DER, bad point) is one refusal
            raise BadSignature() from None

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw public key (as signatures.key_id)."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def text(self) -> str:
        """The public key's one-line text form (``sm2:`` prefix for SM2)."""
        encoded = base64.b64encode(self.raw).decode("ascii")
        return encoded if self.algorithm == ED25519 else _SM2_PREFIX + encoded


@dataclass(frozen=True, eq=False)
class Signer:
    """A private signing key of either algorithm; its repr shows no key bytes."""

    algorithm: str
    _key: Any
    public: Verifier

    def __repr__(self) -> str:
        return f"Signer({self.algorithm}, {self.public.key_id})"

    def sign(self, message: bytes) -> bytes:
        """The detached signature of a message (64 bytes Ed25519, DER for SM2)."""
        if self.algorithm == ED25519:
            return bytes(self._key.sign(bytes(message)).signature)
        return bytes(self._key.sign(bytes(message), _sm2_algorithm()))

    @property
    def verify_key(self) -> Any:
        """The public key in the form ``gateway.crypto.signatures.verify`` takes: PyNaCl's
        VerifyKey for Ed25519 (as a PyNaCl SigningKey gives), the Verifier for SM2."""
        return self.public._key if self.algorithm == ED25519 else self.public

    def secret_bytes(self) -> bytes:
        """The private key's 32 bytes (Ed25519 seed, SM2 scalar): only for deriving
        another key from it (the log's state-MAC key); a token key has none."""
        if self.algorithm == ED25519:
            return bytes(self._key)
        return int(self._key.private_numbers().private_value).to_bytes(32, "big")


def _sm2_public_raw(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(_ts_serialization.Encoding.X962,
                                         _ts_serialization.PublicFormat.UncompressedPoint))


def ed25519_verifier(raw: bytes) -> Verifier:
    """The Verifier of a raw 32-byte Ed25519 public key; raises ConfigurationError."""
    try:
        return Verifier(ED25519, bytes(raw), nacl.signing.VerifyKey(bytes(raw)))
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        raise ConfigurationError("not a valid ed25519 public key") from None


def _ed25519_signer(seed: bytes) -> Signer:
    key = nacl.signing.SigningKey(seed)
    public = Verifier(ED25519, bytes(key.verify_key), key.verify_key)
    return Signer(ED25519, key, public)


def _sm2_signer(scalar: bytes) -> Signer:
    key = _ts_ec.derive_private_key(int.from_bytes(scalar, "big"), _ts_ec.SM2())
    public = key.public_key()
    return Signer(SM2, key, Verifier(SM2, _sm2_public_raw(public), public))


def generate_signer(algorithm: str) -> Signer:
    """A fresh signing key of an algorithm (``ed25519`` or ``sm2``)."""
    if algorithm == ED25519:
        return _ed25519_signer(bytes(nacl.signing.SigningKey.generate()))
    if algorithm == SM2:
        key = _ts_ec.generate_private_key(_ts_ec.SM2())
        public = key.public_key()
        return Signer(SM2, key, Verifier(SM2, _sm2_public_raw(public), public))
    raise ConfigurationError("unknown signature algorithm")


def key_file_line(path: Path) -> str:
    """The one non-comment line of a key file; raises ConfigurationError otherwise."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigurationError(f"key file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"key file cannot be read: {path} ({type(exc).__name__})"
                                 ) from None
    body = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(body) != 1:
        raise ConfigurationError(f"key file must hold exactly one base64 line: {path}")
    return body[0]


def _decode(text: str, where: str) -> tuple[str, bytes]:
    algorithm, encoded = (SM2, text[len(_SM2_PREFIX):]) if text.startswith(_SM2_PREFIX) \
        else (ED25519, text)
    try:
        return algorithm, base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise ConfigurationError(f"key is not valid base64: {where}") from None


def load_signer(path: Path) -> Signer:
    """Read a private signing key file of either algorithm; raises ConfigurationError."""
    algorithm, raw = _decode(key_file_line(path), str(path))
    if len(raw) != 32:
        raise ConfigurationError(f"key file must hold 32 bytes: {path}")
    try:
        return _ed25519_signer(raw) if algorithm == ED25519 else _sm2_signer(raw)
    except Exception:
        raise ConfigurationError(f"key file does not hold a valid private key: {path}") from None


def verifier_from_text(text: str, *, where: str = "public key") -> Verifier:
    """A public key from its one-line text form; raises ConfigurationError when invalid."""
    algorithm, raw = _decode(text.strip(), where)
    try:
        if algorithm == ED25519:
            if len(raw) != 32:
                raise ValueError
            return Verifier(ED25519, raw, nacl.signing.VerifyKey(raw))
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError
        public = _ts_ec.EllipticCurvePublicKey.from_encoded_point(_ts_ec.SM2(), raw)
        return Verifier(SM2, raw, public)
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        raise ConfigurationError(f"not a valid {algorithm} public key: {where}") from None
    except Exception:
        raise ConfigurationError(f"not a valid {algorithm} public key: {where}") from None


def load_verifier(path: Path) -> Verifier:
    """Read a public key file of either algorithm; raises ConfigurationError when invalid."""
    return verifier_from_text(key_file_line(path), where=str(path))


def signer_file_text(signer: Signer, *, comments: tuple[str, ...] = ()) -> str:
    """The key-file text of a private key, after comment lines."""
    encoded = base64.b64encode(signer.secret_bytes()).decode("ascii")
    line = encoded if signer.algorithm == ED25519 else _SM2_PREFIX + encoded
    return "".join(f"# {c}".rstrip() + "\n" for c in comments) + line + "\n"


def verifier_file_text(verifier: Verifier, *, comments: tuple[str, ...] = ()) -> str:
    """The key-file text of a public key, after comment lines."""
    return "".join(f"# {c}".rstrip() + "\n" for c in comments) + verifier.text() + "\n"
