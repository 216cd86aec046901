"""Ed25519 signatures (RFC 8032, via PyNaCl) and the key files that `keys init` writes.

Key file format (UTF-8 text)::

    # any number of comment lines starting with "#"
    # (development private keys say: DEVELOPMENT KEY - NEVER USE IN PRODUCTION)
    <base64 (RFC 4648) of the raw 32 bytes>

A ``.sign.key`` file holds the 32-byte private seed, a ``.sign.pub`` file the 32-byte
public key. Blank lines are ignored; exactly one non-comment line is expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from pathlib import Path

import nacl.exceptions
import nacl.signing

from gateway.crypto import _primitives as p
from gateway.crypto.signers import ED25519, SM2, Signer, Verifier, load_signer, load_verifier
from gateway.errors import BadSignature, ConfigurationError

__all__ = [
    "SIGNATURE_SIZE",
    "AnySigningKey",
    "AnyVerifyKey",
    "PartySigningKey",
    "PartyVerifyKey",
    "SigningKey",
    "VerifyKey",
    "digest_hex",
    "format_key_file",
    "key_id",
    "load_ed25519_verify_key",
    "load_party_signing_key",
    "load_party_verify_key",
    "load_signing_key",
    "load_verify_key",
    "note_key_hash",
    "note_signature_type",
    "note_verifier_key",
    "public_key_bytes",
    "public_key_text",
    "sign",
    "signature_algorithm",
    "verify",
]

#: The Ed25519 key types, named here so other packages need not import PyNaCl.
SigningKey = nacl.signing.SigningKey
VerifyKey = nacl.signing.VerifyKey
#: A party's key: Ed25519 (PyNaCl's type, as everywhere before) or, under the gm suite,
#: SM2 (gateway.crypto.signers); ``sign`` and ``verify`` take either.
PartySigningKey = nacl.signing.SigningKey | Signer
PartyVerifyKey = nacl.signing.VerifyKey | Verifier
#: The gateway's own keys take the same two forms (the log key: Ed25519 or SM2, in a
#: file or, as a ``Signer``, in a PKCS#11 token).
AnySigningKey = PartySigningKey
AnyVerifyKey = PartyVerifyKey

KEY_SIZE = 32
SIGNATURE_SIZE = 64
# C2SP signed-note signature type identifier for Ed25519.
NOTE_ED25519 = b"\x01"
#: The signature type byte of a C2SP cosignature/v1 (Ed25519, timestamped).
COSIGNATURE_ED25519 = b"\x04"
#: credgate's signed-note type for SM2 (GB/T 32918, DER signature over SM3 with the
#: default user id): the escape byte 0xff, then a name no other type uses.
NOTE_SM2 = b"\xffcredgate/sm2"


def _read_key_bytes(path: Path) -> bytes:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigurationError(f"key file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = type(exc).__name__
        raise ConfigurationError(f"key file cannot be read: {path} ({problem})") from None
    body = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(body) != 1:
        raise ConfigurationError(f"key file must hold exactly one base64 line: {path}")
    try:
        raw = base64.b64decode(body[0], validate=True)
    except (ValueError, binascii.Error):
        raise ConfigurationError(f"key file is not valid base64: {path}") from None
    if len(raw) != KEY_SIZE:
        raise ConfigurationError(f"key file must hold {KEY_SIZE} bytes: {path}")
    return raw


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    """Read an Ed25519 private key (seed) file; raises ConfigurationError when invalid."""
    return nacl.signing.SigningKey(_read_key_bytes(path))


def load_verify_key(path: Path) -> AnyVerifyKey:
    """Read a public key file of either algorithm (PyNaCl's VerifyKey for Ed25519, the
    Verifier for an ``sm2:`` key); raises ConfigurationError when invalid."""
    return load_party_verify_key(path)


def load_ed25519_verify_key(path: Path) -> nacl.signing.VerifyKey:
    """Read an Ed25519 public key file, for keys that are Ed25519 by their format (a
    witness's cosignature/v1); raises ConfigurationError for any other key."""
    key = load_party_verify_key(path)
    if not isinstance(key, nacl.signing.VerifyKey):
        raise ConfigurationError(f"key file does not hold an Ed25519 public key: {path}")
    return key


def format_key_file(key: nacl.signing.SigningKey | nacl.signing.VerifyKey,
                    *, comments: Iterable[str] = ()) -> str:
    """The key-file text for a signing key (its seed) or a verify key, after comment lines."""
    lines = [f"# {line}".rstrip() for line in comments]
    lines.append(base64.b64encode(bytes(key)).decode("ascii"))
    return "\n".join(lines) + "\n"


def load_party_signing_key(path: Path) -> PartySigningKey:
    """A party's private key file of either algorithm; raises ConfigurationError."""
    signer = load_signer(path)
    return signer._key if signer.algorithm == ED25519 else signer


def load_party_verify_key(path: Path) -> PartyVerifyKey:
    """A party's public key file of either algorithm; raises ConfigurationError."""
    verifier = load_verifier(path)
    return verifier._key if verifier.algorithm == ED25519 else verifier


def digest_hex(key: PartySigningKey | PartyVerifyKey, data: bytes) -> str:
    """The hex digest kept for data signed with a key: SM3 (GB/T 32905) for an SM2 key
    (the gm suite stores SM3 digests), SHA-256 otherwise."""
    if isinstance(key, Signer | Verifier) and key.algorithm != ED25519:
        return p.sm3(data).hex()
    return hashlib.sha256(data).hexdigest()


def sign(key: PartySigningKey, message: bytes) -> bytes:
    """The detached signature of a message (64 bytes Ed25519; DER for an SM2 key)."""
    if isinstance(key, Signer):
        return key.sign(message)
    return key.sign(message).signature


def verify(key: PartyVerifyKey, message: bytes, signature: bytes, *,
           algorithm: str | None = None) -> None:
    """Check a detached signature; raises BadSignature when malformed, not valid, or
    recorded as made with another ``algorithm`` than the key's."""
    if algorithm is not None and algorithm != signature_algorithm(key):
        raise BadSignature()
    if isinstance(key, Verifier):
        key.verify(message, signature)
        return
    if isinstance(signature, memoryview):  # bytea columns may come back as memoryview
        signature = signature.tobytes()
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_SIZE:
        raise BadSignature()
    try:
        key.verify(bytes(message), bytes(signature))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, TypeError, ValueError):
        raise BadSignature() from None


def public_key_text(verify_key: AnyVerifyKey) -> str:
    """The public key as one line: base64 of its raw bytes (``sm2:`` before an SM2 key)."""
    if isinstance(verify_key, Verifier):
        return verify_key.text()
    return base64.b64encode(bytes(verify_key)).decode("ascii")


def public_key_bytes(verify_key: AnyVerifyKey) -> bytes:
    """The raw public key: 32 bytes Ed25519, the 65-byte point 04 || x || y for SM2."""
    return verify_key.raw if isinstance(verify_key, Verifier) else bytes(verify_key)


def key_id(verify_key: AnyVerifyKey) -> str:
    """A short id for a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(public_key_bytes(verify_key)).hexdigest()[:16]


def signature_algorithm(key: AnySigningKey | AnyVerifyKey) -> str:
    """The algorithm a key signs or verifies with: ``ed25519`` or ``sm2``."""
    return key.algorithm if isinstance(key, Signer | Verifier) else ED25519


def _check_note_name(name: str) -> bytes:
    # C2SP signed-note: key names are non-empty UTF-8 with no Unicode spaces and no "+".
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise ConfigurationError("note key name must be non-empty, without spaces or '+'")
    return name.encode("utf-8")


def note_signature_type(verify_key: AnyVerifyKey) -> bytes:
    """The signed-note signature type of a key: 0x01 for Ed25519; for SM2, which C2SP
    assigns no byte, 0xff (the spec's escape for other types) and ``credgate/sm2``."""
    return NOTE_SM2 if signature_algorithm(verify_key) == SM2 else NOTE_ED25519


def note_key_hash(name: str, verify_key: AnyVerifyKey) -> bytes:
    """C2SP signed-note key ID: SHA-256(name || 0x0A || signature type || public key)[:4]."""
    data = (_check_note_name(name) + b"\n" + note_signature_type(verify_key)
            + public_key_bytes(verify_key))
    return hashlib.sha256(data).digest()[:4]


def cosigner_key_hash(name: str, verify_key: nacl.signing.VerifyKey) -> bytes:
    """C2SP tlog-cosignature key ID: SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
    data = _check_note_name(name) + b"\n" + COSIGNATURE_ED25519 + bytes(verify_key)
    return hashlib.sha256(data).digest()[:4]


def note_verifier_key(name: str, verify_key: AnyVerifyKey) -> str:
    """The signed-note verifier key text: ``<name>+<hex key ID>+<base64(type || key)>``."""
    encoded = base64.b64encode(note_signature_type(verify_key) + public_key_bytes(verify_key)
                               ).decode("ascii")
    return f"{name}+{note_key_hash(name, verify_key).hex()}+{encoded}"
