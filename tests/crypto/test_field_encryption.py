"""Field envelope encryption (FieldCipher): round trips, context binding, tampering, rotation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.fields import FORMAT_VERSION, FieldCipher, FieldContext, key_id_of
from gateway.crypto.keyring import Keyring, generate_keyring
from gateway.errors import DecryptionError

CONTEXT = FieldContext("rec-000042", "dishonest_debtor", "case_number")
VALUE = "（2024）京01执1234号 张三 110105194912310021"

KEYRING = generate_keyring()
CIPHER = FieldCipher(KEYRING)


def _encrypt(keyring: Keyring = KEYRING, value: str = VALUE, **context: str) -> bytes:
    return FieldCipher(keyring).seal(_context(**context), value)


def _decrypt(blob: bytes, *, keyring: Keyring = KEYRING, **context: str) -> str:
    return FieldCipher(keyring).open(_context(**context), blob)


def _context(**parts: str) -> FieldContext:
    return FieldContext(**{"record_id": CONTEXT.record_id, "category": CONTEXT.category,
                           "field": CONTEXT.field, **parts})


def _flip(blob: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 1 << bit
    return bytes(changed)


def test_round_trip_text() -> None:
    assert _decrypt(_encrypt()) == VALUE


def test_round_trip_bytes_for_consent_artefacts() -> None:
    context = FieldContext("consent-7f3a", "consent", "artefact")
    artefact = bytes(range(256)) * 4
    blob = CIPHER.seal_bytes(context, artefact)
    assert CIPHER.open_bytes(context, blob) == artefact


def test_empty_value_round_trips() -> None:
    assert _decrypt(_encrypt(value="")) == ""


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(st.characters(exclude_categories=())),
    record_id=st.text(st.characters(exclude_categories=()), max_size=40),
    field=st.text(max_size=20),
)
def test_round_trip_any_unicode_text_including_lone_surrogates(
    value: str, record_id: str, field: str
) -> None:
    blob = _encrypt(value=value, record_id=record_id, field=field)
    assert _decrypt(blob, record_id=record_id, field=field) == value


def test_same_value_encrypts_differently_each_time() -> None:
    assert _encrypt() != _encrypt()


def test_blob_layout_is_self_describing() -> None:
    blob = _encrypt()
    key_id = KEYRING.active_master_id
    assert blob[0] == FORMAT_VERSION
    assert blob[2 : 2 + blob[1]].decode("ascii") == key_id == key_id_of(blob)
    overhead = 2 + len(key_id) + 12 + 48 + 12 + 16
    assert len(blob) == overhead + len(VALUE.encode())
    assert VALUE.encode() not in blob


def test_blob_from_a_database_driver_as_memoryview_or_bytearray_opens() -> None:
    blob = _encrypt()
    assert _decrypt(memoryview(blob)) == VALUE  # type: ignore[arg-type]
    assert _decrypt(bytearray(blob)) == VALUE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("record_id", "rec-000043"),
        ("category", "tax_arrears"),
        ("field", "debtor_name"),
        ("record_id", "REC-000042"),
        ("record_id", ""),
    ],
    ids=["other-record", "other-category", "other-field", "record-case", "record-empty"],
)
def test_ciphertext_moved_to_another_context_is_refused(part: str, value: str) -> None:
    with pytest.raises(DecryptionError):
        CIPHER.open(_context(**{part: value}), _encrypt())


def test_context_parts_cannot_be_shifted_across_the_boundary() -> None:
    blob = _encrypt(record_id="rec-1", category="cat")
    with pytest.raises(DecryptionError):
        _decrypt(blob, record_id="rec-1c", category="at")


def test_text_blob_is_not_a_consent_artefact() -> None:
    blob = _encrypt()
    with pytest.raises(DecryptionError):
        CIPHER.open_bytes(_context(category="consent", field="artefact"), blob)


def test_flipped_bit_anywhere_is_refused() -> None:
    blob = _encrypt(value="short")
    for index in range(len(blob)):
        for bit in (0, 7):
            with pytest.raises(DecryptionError):
                _decrypt(_flip(blob, index, bit))


def test_truncated_blob_is_refused_at_every_length() -> None:
    blob = _encrypt()
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            _decrypt(blob[:length])


def test_appended_bytes_are_refused() -> None:
    with pytest.raises(DecryptionError):
        _decrypt(_encrypt() + b"\x00")


def test_unknown_format_version_is_refused() -> None:
    blob = _encrypt()
    with pytest.raises(DecryptionError):
        _decrypt(bytes([2]) + blob[1:])


def test_unknown_master_key_id_is_refused() -> None:
    with pytest.raises(DecryptionError):
        _decrypt(_encrypt(generate_keyring()))


def test_key_id_swapped_for_another_known_key_is_refused() -> None:
    rotated = KEYRING.with_new_master("mk-other")
    blob = _encrypt(KEYRING)
    old_id = KEYRING.active_master_id.encode()
    new_id = b"mk-other"
    forged = bytes([FORMAT_VERSION, len(new_id)]) + new_id + blob[2 + len(old_id) :]
    with pytest.raises(DecryptionError):
        _decrypt(forged, keyring=rotated)


@pytest.mark.parametrize("blob", [b"", b"\x01", "not bytes", None], ids=repr)
def test_garbage_input_is_refused(blob: object) -> None:
    with pytest.raises(DecryptionError):
        _decrypt(blob)  # type: ignore[arg-type]


def test_non_utf8_payload_opened_as_text_is_refused() -> None:
    blob = CIPHER.seal_bytes(CONTEXT, b"\xff\xfe")
    with pytest.raises(DecryptionError):
        _decrypt(blob)


def test_every_failure_has_the_same_opaque_message() -> None:
    blob = _encrypt()
    failures = [
        lambda: _decrypt(blob[:-1]),
        lambda: _decrypt(_flip(blob, len(blob) - 1)),
        lambda: _decrypt(blob, record_id="other"),
        lambda: _decrypt(_encrypt(generate_keyring())),
        lambda: _decrypt(b"\x07" + blob[1:]),
        lambda: key_id_of(b""),
    ]
    messages = set()
    for failure in failures:
        with pytest.raises(DecryptionError) as caught:
            failure()
        messages.add((str(caught.value), caught.value.reason, caught.value.detail))
        assert VALUE not in caught.value.diagnostics()
    assert len(messages) == 1


def test_old_values_still_open_after_master_rotation() -> None:
    old = generate_keyring()
    blob = _encrypt(old)
    rotated = old.with_new_master("mk-2025")
    assert rotated.active_master_id == "mk-2025"
    assert _decrypt(blob, keyring=rotated) == VALUE
    assert key_id_of(_encrypt(rotated)) == "mk-2025"


def test_rotate_moves_value_to_the_active_master_key() -> None:
    old = generate_keyring()
    blob = _encrypt(old)
    rotated = old.with_new_master("mk-2025")
    moved = FieldCipher(rotated).rotate(CONTEXT, blob)
    assert key_id_of(blob) == old.active_master_id
    assert key_id_of(moved) == "mk-2025"
    assert _decrypt(moved, keyring=rotated) == VALUE
    # The value ciphertext is kept; only the wrapped data key changed.
    assert moved[-(12 + len(VALUE.encode()) + 16) :] == blob[-(12 + len(VALUE.encode()) + 16) :]
    # A keyring that never had the new master key cannot open the moved value.
    with pytest.raises(DecryptionError):
        _decrypt(moved, keyring=old)


def test_rotate_under_the_wrong_context_is_refused() -> None:
    rotated = KEYRING.with_new_master("mk-next")
    with pytest.raises(DecryptionError):
        FieldCipher(rotated).rotate(_context(field="other"), _encrypt())


def test_rotate_of_a_tampered_value_is_refused() -> None:
    rotated = KEYRING.with_new_master("mk-next")
    blob = _encrypt()
    with pytest.raises(DecryptionError):
        FieldCipher(rotated).rotate(CONTEXT, _flip(blob, len(blob) - 1))


def test_rotated_blob_opens_only_under_its_own_context() -> None:
    rotated = FieldCipher(KEYRING.with_new_master("mk-moved"))
    moved = rotated.rotate(CONTEXT, _encrypt())
    assert rotated.open(CONTEXT, moved) == VALUE
    for other in (_context(record_id="rec-000043"), _context(category="tax_arrears"),
                  _context(field="debtor_name")):
        with pytest.raises(DecryptionError):
            rotated.open(other, moved)


def test_is_current_names_blobs_under_the_active_key_and_suite() -> None:
    old = generate_keyring()
    blob = _encrypt(old)
    assert FieldCipher(old).is_current(blob)
    rotated = FieldCipher(old.with_new_master("mk-next"))
    assert not rotated.is_current(blob)
    assert rotated.is_current(rotated.rotate(CONTEXT, blob))
    assert not rotated.is_current(b"") and not rotated.is_current(b"\x07" + blob[1:])


def test_the_cipher_uses_keys_its_keyring_adopts_while_serving() -> None:
    keyring = generate_keyring()
    cipher = FieldCipher(keyring)
    before = cipher.seal(CONTEXT, VALUE)
    keyring.adopt(keyring.with_new_master("mk-adopted"))
    after = cipher.seal(CONTEXT, VALUE)
    assert key_id_of(after) == "mk-adopted" and cipher.is_current(after)
    assert not cipher.is_current(before)
    assert cipher.open(CONTEXT, before) == cipher.open(CONTEXT, after) == VALUE
    assert key_id_of(cipher.rotate(CONTEXT, before)) == "mk-adopted"


def test_text_and_bytes_of_one_context_are_the_same_blob_format() -> None:
    # A consent's revocation reason is sealed as bytes and opened as text elsewhere.
    assert CIPHER.open(CONTEXT, CIPHER.seal_bytes(CONTEXT, VALUE.encode())) == VALUE
    assert CIPHER.open_bytes(CONTEXT, CIPHER.seal(CONTEXT, VALUE)) == VALUE.encode()


@dataclass(frozen=True)
class _Row:
    record_id: str
    category: str


def test_a_record_context_names_the_record_its_category_and_the_field() -> None:
    context = FieldContext.for_record(_Row("rec-000042", "dishonest_debtor"), "case_number")
    assert context == CONTEXT
    assert CIPHER.open(context, _encrypt()) == VALUE
    with pytest.raises(DecryptionError):
        CIPHER.open(FieldContext.for_record(_Row("rec-000043", "dishonest_debtor"),
                                            "case_number"), _encrypt())


def test_a_context_is_frozen() -> None:
    with pytest.raises(AttributeError):
        CONTEXT.record_id = "rec-000043"  # type: ignore[misc]


def test_the_cipher_repr_names_the_active_key_never_key_bytes() -> None:
    text = repr(CIPHER)
    assert KEYRING.active_master_id in text
    assert all(key.hex() not in text for key in KEYRING.master_keys.values()
               if isinstance(key, bytes))
