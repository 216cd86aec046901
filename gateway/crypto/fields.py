"""Field-level envelope encryption bound to its record, category and field.

Each value gets a fresh random data key. The value is sealed with the suite's AEAD
under the data key; the data key is sealed (wrapped) with the same AEAD under the
keyring's active master key. Both seals carry associated data that names the value's
context, so a ciphertext copied to another record, category or field does not open.

The first byte names the suite (``gateway.crypto.suites``): 0x01 ``international``
(AES-256-GCM, 32-byte keys: format version 1, unchanged), 0x02 ``gm`` (SM4-GCM,
16-byte keys). With k the suite's key size, the blob layout (lengths in bytes) is::

    offset       size  content
    0            1     suite code (0x01 or 0x02)
    1            1     n = length of the master key id
    2            n     master key id (ASCII)
    2+n          12    wrap nonce
    14+n         k+16  wrapped data key: AEAD(master, data key) || 16-byte tag
    30+n+k       12    value nonce
    42+n+k       >=16  AEAD(data key, value) = ciphertext || 16-byte tag

A blob opens only under a master key of its own suite, so a key is never used with
two algorithms.

Associated data (every part framed as a 4-byte big-endian length and its bytes)::

    wrap:  frame("credgate/field/v1/wrap",  version || n || key id, record, category, field)
    value: frame("credgate/field/v1/value", record, category, field)

The value's associated data leaves out the master key id so that re-wrapping under a
new master key (rotation) leaves the value ciphertext untouched. Every failure to open
a blob raises the same opaque ``DecryptionError``, like Fernet's ``InvalidToken``.

Callers hold a ``FieldCipher`` (the gateway builds one over its keyring) and name what a
value is bound to with a ``FieldContext``: record (or row) id, category and field. The
cipher reads the keyring on every call, so keys the keyring adopts while serving
(``Keyring.adopt``) are used at once. ``tests/vectors/fields/`` pins the format.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Protocol

from gateway.crypto import _primitives as p
from gateway.crypto.keyring import Keyring
from gateway.crypto.suites import SUITES, Suite, by_code
from gateway.errors import DecryptionError

__all__ = [
    "FORMAT_VERSION",
    "FieldCipher",
    "FieldContext",
    "key_id_of",
    "suite_of",
]

FORMAT_VERSION = 1  # the international suite's code, and the format's first version
# Offsets inside the body (the bytes after the key id); the wrapped key's size is the
# suite's key size plus the tag, so the offsets after it depend on the suite.
_WRAPPED_AT = p.NONCE_SIZE
#: Per suite code: where the value nonce starts in the body, and where the sealed value
#: starts (looked up, not computed, as they are read for every field opened).
_VALUE_NONCE_AT = {s.code: _WRAPPED_AT + s.key_size + p.TAG_SIZE for s in SUITES.values()}
_SEALED_AT = {code: at + p.NONCE_SIZE for code, at in _VALUE_NONCE_AT.items()}
# Text is UTF-8; "surrogatepass" keeps the encoding total and exact for any Python str.
_TEXT_ERRORS = "surrogatepass"


_new_tuple = tuple.__new__


class _Record(Protocol):
    """Anything that names a record: its id and its category (a stored record)."""

    @property
    def record_id(self) -> str: ...

    @property
    def category(self) -> str: ...


class FieldContext(NamedTuple):
    """What a sealed value is bound to: the id of its record (or row), a category, a field.

    A value sealed under one context opens under that context only. A stored record's
    fields use ``for_record``; each other kind of sealed row (objection, repair,
    listing, consent, acknowledgement) derives its context in the module that owns it.
    Immutable; a named tuple because one is built per field a query opens, and a tuple
    is built in half the time of a frozen dataclass.
    """

    record_id: str
    category: str
    field: str

    @classmethod
    def for_record(cls, record: _Record, field: str) -> FieldContext:
        """The context of one field of a stored record (its id and category)."""
        return _new_tuple(cls, (record.record_id, record.category, field))


class FieldCipher:
    """Seals and opens field values under a keyring's master keys (the gateway has one).

    ``seal`` uses the active master key; ``open`` any master key the keyring still holds;
    ``rotate`` moves a blob under the active key. Every failure to open raises the one
    opaque ``DecryptionError``. The keyring is read on every call, so keys it adopts
    while serving are used at once.
    """

    __slots__ = ("_keyring",)

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def __repr__(self) -> str:
        return (f"FieldCipher(active_master_id={self._keyring.active_master_id!r}, "
                f"suite={self._keyring.suite.name!r})")

    def seal(self, context: FieldContext, text: str) -> bytes:
        """Envelope-encrypt a text value under the active master key, bound to its context."""
        return _seal(self._keyring, _bound(context), text.encode("utf-8", _TEXT_ERRORS))

    def open(self, context: FieldContext, blob: bytes) -> str:
        """Open a blob made by ``seal`` for this context; raises DecryptionError."""
        data = _open(self._keyring, _bound(context), blob)
        try:
            return data.decode("utf-8", _TEXT_ERRORS)
        except UnicodeDecodeError:
            raise DecryptionError() from None

    def seal_bytes(self, context: FieldContext, data: bytes) -> bytes:
        """Envelope-encrypt bytes (a consent artefact) under the active master key."""
        return _seal(self._keyring, _bound(context), data)

    def open_bytes(self, context: FieldContext, blob: bytes) -> bytes:
        """Open a blob made by ``seal_bytes`` for this context; raises DecryptionError."""
        return _open(self._keyring, _bound(context), blob)

    def rotate(self, context: FieldContext, blob: bytes) -> bytes:
        """The blob under the active master key and suite; raises DecryptionError.

        The value is opened first (and discarded), so the result is known to open. The
        data key is re-wrapped and the value ciphertext kept; a blob of another suite
        than the active one is sealed afresh (a data key never moves between
        algorithms). Works for blobs of ``seal`` and ``seal_bytes`` alike.
        """
        return _rotate(self._keyring, _bound(context), blob)

    def is_current(self, blob: bytes) -> bool:
        """Whether a blob is wrapped under the active master key and suite (False when
        malformed); says nothing of whether it opens."""
        try:
            suite, key_id, _header, _body = _parse(blob)
        except DecryptionError:
            return False
        return key_id == self._keyring.active_master_id and suite is self._keyring.suite


def key_id_of(blob: bytes) -> str:
    """The id of the master key that wraps a blob; raises DecryptionError when malformed."""
    return _parse(blob)[1]


def suite_of(blob: bytes) -> str:
    """The name of the suite a blob is sealed under; raises DecryptionError when malformed."""
    return _parse(blob)[0].name


# The format: private below this line.

_length = struct.Struct(">I").pack


def _frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part preceded by its 4-byte big-endian length."""
    return b"".join([piece for part in parts for piece in (_length(len(part)), part)])


_WRAP_LABEL = _frame(b"credgate/field/v1/wrap")
_VALUE_LABEL = _frame(b"credgate/field/v1/value")


def _bound(context: FieldContext) -> bytes:
    """The framed parts of a context: frame(record_id, category, field)."""
    # Written out rather than via _frame: this runs for every field of every query.
    record_id, category, field = context
    rec = record_id.encode("utf-8", _TEXT_ERRORS)
    cat = category.encode("utf-8", _TEXT_ERRORS)
    fld = field.encode("utf-8", _TEXT_ERRORS)
    return b"".join((_length(len(rec)), rec, _length(len(cat)), cat, _length(len(fld)), fld))


def _header(suite: Suite, key_id: str) -> bytes:
    raw = key_id.encode("ascii")  # the keyring admits only short ASCII key ids
    return bytes((suite.code, len(raw))) + raw


def _wrap(keyring: Keyring, data_key: bytes, context: bytes) -> bytes:
    """Header, wrap nonce and data key sealed under the active master key."""
    key_id = keyring.active_master_id
    master = keyring._master_cipher(key_id)
    if master is None:  # unreachable: Keyring checks that the active id has a key
        raise DecryptionError()
    header = _header(keyring.suite, key_id)
    nonce = p.random_nonce()
    wrapped = p.seal(master, nonce, data_key, _WRAP_LABEL + _length(len(header)) + header + context)
    return header + nonce + wrapped


def _seal(keyring: Keyring, context: bytes, plaintext: bytes) -> bytes:
    suite = keyring.suite
    data_key, nonce = suite.random_key(), p.random_nonce()
    sealed = p.seal(suite.aead(data_key), nonce, plaintext, _VALUE_LABEL + context)
    return _wrap(keyring, data_key, context) + nonce + sealed


def _parse(blob: bytes) -> tuple[Suite, str, bytes, bytes]:
    """Split a blob into suite, key id, header and body; raises DecryptionError when malformed."""
    if isinstance(blob, memoryview):
        blob = blob.tobytes()
    if not isinstance(blob, bytes | bytearray) or len(blob) < 2:
        raise DecryptionError()
    suite = by_code(blob[0])
    if suite is None:
        raise DecryptionError()
    end = 2 + blob[1]
    if len(blob) < end + _SEALED_AT[suite.code] + p.TAG_SIZE:
        raise DecryptionError()
    header = bytes(blob[:end])
    try:
        key_id = header[2:].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError() from None
    return suite, key_id, header, blob[end:]


def _unwrap(keyring: Keyring, suite: Suite, key_id: str, header: bytes, body: bytes,
            context: bytes) -> bytes:
    """The data key of a blob; raises DecryptionError."""
    master = keyring._master_cipher(key_id)
    # A blob opens only under a key of the suite it names (a key has one algorithm);
    # suites are singletons, so identity is their equality.
    if master is None or keyring.master_suite(key_id) is not suite:
        raise DecryptionError()
    aad = _WRAP_LABEL + _length(len(header)) + header + context
    try:
        return p.open_(master, body[:_WRAPPED_AT],
                       body[_WRAPPED_AT:_VALUE_NONCE_AT[suite.code]], aad)
    except p.AuthenticationFailed:
        raise DecryptionError() from None


def _open_value(suite: Suite, data_key: bytes, body: bytes, context: bytes) -> bytes:
    value_nonce_at = _VALUE_NONCE_AT[suite.code]
    sealed_at = value_nonce_at + p.NONCE_SIZE
    try:
        return p.open_(suite.aead(data_key), body[value_nonce_at:sealed_at], body[sealed_at:],
                       _VALUE_LABEL + context)
    except (p.AuthenticationFailed, ValueError):
        raise DecryptionError() from None


def _open(keyring: Keyring, context: bytes, blob: bytes) -> bytes:
    suite, key_id, header, body = _parse(blob)
    data_key = _unwrap(keyring, suite, key_id, header, body, context)
    return _open_value(suite, data_key, body, context)


def _rotate(keyring: Keyring, context: bytes, blob: bytes) -> bytes:
    suite, key_id, header, body = _parse(blob)
    data_key = _unwrap(keyring, suite, key_id, header, body, context)
    value = _open_value(suite, data_key, body, context)
    if suite is not keyring.suite:
        return _seal(keyring, context, value)
    return _wrap(keyring, data_key, context) + bytes(body[_VALUE_NONCE_AT[suite.code]:])
