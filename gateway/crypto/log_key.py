"""The gateway's log key: it signs checkpoints, disclosure manifests and credit reports,
and keys the MAC of the shared log's tree state.

``gateway.log.key`` holds either a file key (one base64 line: Ed25519, or ``sm2:`` and
an SM2 scalar under the gm suite) or a reference to a key in the PKCS#11 token of
``data-keys.toml``: the line ``pkcs11:<label>`` (``credgate keys init --pkcs11``). The
public half is always in ``gateway.log.pub``, which regulators verify with.

The tree-state MAC key (HMAC-SHA256) is derived one-way from a file key's secret bytes,
as before; a token key has no bytes outside the token, so its MAC key is a second,
non-extractable HMAC key made beside it in the token (``<label>.state-mac``) and the
MAC is computed inside the token. Either way, whoever can write the database but not
use the key cannot rewrite the tree state unseen.
"""

from __future__ import annotations

import hmac
from pathlib import Path

import nacl.signing

from gateway.crypto.signers import Signer, key_file_line, load_signer
from gateway.crypto.token import Token, TokenKey, TokenSigner
from gateway.errors import ConfigurationError

__all__ = [
    "LOG_KEY_FILE",
    "LOG_PUBLIC_FILE",
    "TOKEN_PREFIX",
    "MacKey",
    "load_log_key",
    "log_mac",
    "state_mac_key",
    "token_reference_text",
]

LOG_KEY_FILE = "gateway.log.key"
LOG_PUBLIC_FILE = "gateway.log.pub"
#: The line of a log key file that names a key in the token: ``pkcs11:<label>``.
TOKEN_PREFIX = "pkcs11:"
#: The tree-state MAC key: bytes (derived from a file key) or an HMAC key in a token.
MacKey = bytes | TokenKey
_MAC_CONTEXT = b"credgate/tlog-state-mac/v1"


def load_log_key(path: Path, token: Token | None) -> Signer:
    """The log key of a key file: a file key, or the token key it names; raises
    ConfigurationError when unreadable, or when it names a token key and there is no
    token (``[pkcs11]`` in data-keys.toml) or no such key in it."""
    label = _token_label(path)
    if label is None:
        return load_signer(path)
    if token is None:
        raise ConfigurationError(f"{path} names a PKCS#11 key but data-keys.toml has no "
                                 "[pkcs11] table")
    return TokenSigner.load(token, label)


def _token_label(path: Path) -> str | None:
    line = key_file_line(path)
    return line[len(TOKEN_PREFIX):] if line.startswith(TOKEN_PREFIX) else None


def token_reference_text(signer: TokenSigner, *, comments: tuple[str, ...] = ()) -> str:
    """The text of a log key file that names a token key."""
    return "".join(f"# {c}".rstrip() + "\n" for c in comments) + \
        f"{TOKEN_PREFIX}{signer.label}\n"


def state_mac_key(signing_key: nacl.signing.SigningKey | Signer) -> MacKey:
    """The tree-state MAC key of a log key: its token HMAC key, or HMAC-SHA256 of the
    file key's secret bytes (one-way; the same bytes as before for an Ed25519 seed)."""
    if isinstance(signing_key, TokenSigner):
        return signing_key.state_mac
    secret = signing_key.secret_bytes() if isinstance(signing_key, Signer) \
        else bytes(signing_key)
    return hmac.new(secret, _MAC_CONTEXT, "sha256").digest()


def log_mac(key: MacKey, message: bytes) -> bytes:
    """HMAC-SHA256 of a message under a state MAC key (inside the token for a token key);
    raises KeyStoreUnavailable when the token fails."""
    if isinstance(key, TokenKey):
        return key.mac(message)
    return hmac.new(key, message, "sha256").digest()
