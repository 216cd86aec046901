"""The keyed blind index of ID numbers."""

from __future__ import annotations

import re

import pytest

from gateway.crypto.blind_index import blind_index, blind_indexes, keyed_digest
from gateway.crypto.keyring import generate_keyring
from gateway.errors import InvalidArgument

ID = "11010519491231002X"
KEYRING = generate_keyring()


def test_index_is_stable() -> None:
    assert blind_index(KEYRING, ID) == blind_index(KEYRING, ID)


def test_index_names_its_key_and_is_a_full_hmac() -> None:
    key_id, digest = blind_index(KEYRING, ID).split(":")
    assert key_id == KEYRING.active_index_id
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_index_normalises_case_and_surrounding_blanks() -> None:
    assert blind_index(KEYRING, " 11010519491231002x\n") == blind_index(KEYRING, ID)


def test_index_differs_across_keys() -> None:
    other = generate_keyring()
    assert blind_index(KEYRING, ID).split(":")[1] != blind_index(other, ID).split(":")[1]


def test_index_differs_across_id_numbers() -> None:
    assert blind_index(KEYRING, ID) != blind_index(KEYRING, "110105194912310021")


def test_index_does_not_contain_the_id_number() -> None:
    index = blind_index(KEYRING, ID)
    assert ID not in index.upper()
    assert ID[:17] not in index
    assert ID[6:14] not in index  # birth date


def test_index_is_not_keyed_with_a_master_key() -> None:
    index = blind_index(KEYRING, ID)
    assert KEYRING.active_master_id not in index


def test_lookups_during_rotation_cover_every_key_active_first() -> None:
    rotated = KEYRING.with_new_index_key("bi-next")
    indexes = blind_indexes(rotated, ID)
    assert indexes[0] == blind_index(rotated, ID)
    assert indexes[0].startswith("bi-next:")
    assert blind_index(KEYRING, ID) in indexes
    assert len(indexes) == 2


@pytest.mark.parametrize("value", ["", "   ", None], ids=repr)
def test_empty_id_number_is_refused(value: object) -> None:
    with pytest.raises(InvalidArgument):
        blind_index(KEYRING, value)  # type: ignore[arg-type]


def test_keyed_digest_is_stable_keyed_and_separate_from_the_blind_index() -> None:
    data = ID.encode()
    digest = keyed_digest(KEYRING, data)
    assert digest == keyed_digest(KEYRING, data)
    assert digest.startswith(KEYRING.active_index_id + ":")
    assert digest != blind_index(KEYRING, ID)
    assert digest != keyed_digest(generate_keyring(), data)
    assert digest != keyed_digest(KEYRING, data + b" ")
    assert ID not in digest
