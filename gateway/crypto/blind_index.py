"""Keyed blind index of ID numbers: records are found without storing the ID in clear.

    index = "<key id>:" || hex(HMAC(index key, frame("credgate/blind-index/v1", id)))

where the HMAC is the key's suite's: HMAC-SHA256 (international) or HMAC-SM3 (gm); the
key id names the key and so its suite,
``id`` is the normalised ID number (surrounding blanks stripped, upper case, so a
trailing check character ``x`` and ``X`` index alike) in UTF-8, and ``frame`` writes each
part as a 4-byte big-endian length and its bytes. The blind-index key is its own key,
never a master key. The key id prefix lets the index key rotate: during a rotation,
look records up under every key (``blind_indexes``) and rewrite them under the active one.

``keyed_digest`` uses the same key under its own label ("credgate/keyed-digest/v1") to
tell equal contents apart without storing them (e.g. a replayed submission).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from gateway.crypto import _primitives as p
from gateway.crypto.keyring import Keyring
from gateway.crypto.suites import SUITES
from gateway.crypto.token import TokenKey
from gateway.errors import InvalidArgument

__all__ = [
    "blind_index", "blind_indexes", "keyed_digest", "keyed_digests", "normalise_id_number",
    "pseudonym", "pseudonymiser",
]

_LABEL = b"credgate/blind-index/v1"
_DIGEST_LABEL = b"credgate/keyed-digest/v1"
_PSEUDONYM_LABEL = b"credgate/pseudonym/v1"


def _frame(label: bytes, value: bytes) -> bytes:
    return len(label).to_bytes(4, "big") + label + len(value).to_bytes(4, "big") + value


def normalise_id_number(id_number: str) -> str:
    """The form that is indexed: surrounding blanks stripped, upper case."""
    return id_number.strip().upper()


def _message(id_number: str) -> bytes:
    if not isinstance(id_number, str):
        raise InvalidArgument("an ID number is required for a blind index")
    value = normalise_id_number(id_number).encode("utf-8", "surrogatepass")
    if not value:
        raise InvalidArgument("an ID number is required for a blind index")
    return _frame(_LABEL, value)


def _index(keyring: Keyring, key_id: str, message: bytes) -> str:
    key = keyring.index_keys[key_id]
    if isinstance(key, TokenKey):  # HMAC-SHA256 inside the PKCS#11 token
        return f"{key_id}:{key.mac(message).hex()}"
    return f"{key_id}:{SUITES[keyring.index_suites[key_id]].mac(key, message).hex()}"


def blind_index(keyring: Keyring, id_number: str) -> str:
    """The blind index under the active index key; raises InvalidArgument on an empty ID."""
    key_id = keyring.active_index_id
    return _index(keyring, key_id, _message(id_number))


def blind_indexes(keyring: Keyring, id_number: str) -> list[str]:
    """The blind index under every index key, the active key's first (for lookups in rotation)."""
    message = _message(id_number)
    active = keyring.active_index_id
    ids = [active, *(key_id for key_id in keyring.index_keys if key_id != active)]
    return [_index(keyring, key_id, message) for key_id in ids]


def keyed_digest(keyring: Keyring, data: bytes) -> str:
    """``"<key id>:<hex HMAC-SHA256>"`` of bytes under the active index key, for equality tests."""
    key_id = keyring.active_index_id
    return _index(keyring, key_id, _frame(_DIGEST_LABEL, bytes(data)))


def keyed_digests(keyring: Keyring, data: bytes) -> list[str]:
    """``keyed_digest`` under every index key, the active key's first (during a rotation)."""
    message = _frame(_DIGEST_LABEL, bytes(data))
    active = keyring.active_index_id
    ids = [active, *(key_id for key_id in keyring.index_keys if key_id != active)]
    return [_index(keyring, key_id, message) for key_id in ids]


def pseudonym(keyring: Keyring, *, audience: str, value: str) -> str:
    """A keyed token for a value, stable within one audience and unlinkable across audiences.

    ``"<key id>:" || base64url(first 15 bytes of HMAC-SHA256(pseudonym key,
    frame(label, audience) || frame(value)))``: 120 bits in 20 characters that, unlike
    hex, practically never hold a run of digits reading as a phone or ID number. The
    audience is framed into the input, so the same value gets unrelated tokens for two
    audiences; the pseudonym key is its own key, so a token cannot be joined with a blind
    index. Raises InvalidArgument on an empty audience.
    """
    return pseudonymiser(keyring, audience)(value)


def pseudonymiser(keyring: Keyring, audience: str) -> Callable[[str], str]:
    """``pseudonym`` for one audience under the active key, as a function of the value.

    The keyed state after the audience's frame is computed once, so a feed pays one
    HMAC copy per value. Raises InvalidArgument on an empty audience.
    """
    if not isinstance(audience, str) or not audience:
        raise InvalidArgument("an audience is required for a pseudonym")
    key_id = keyring.active_pseudonym_id
    mac = p.hmac_after(
        SUITES[keyring.pseudonym_suites[key_id]].hash_name,
        keyring.pseudonym_keys[key_id],
        _frame(_PSEUDONYM_LABEL, audience.encode("utf-8", "surrogatepass")))
    prefix = f"{key_id}:"
    encode = base64.urlsafe_b64encode

    def token(value: str) -> str:
        data = str(value).encode("utf-8", "surrogatepass")
        return prefix + encode(mac(len(data).to_bytes(4, "big") + data)[:15]).decode("ascii")

    return token
