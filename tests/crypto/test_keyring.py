"""The keyring file: loading, validation, rotation, and keeping key bytes out of sight."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.crypto.keyring import (
    DATA_KEYS_FILE,
    Keyring,
    generate_keyring,
    generate_keyring_toml,
    keyring_toml,
    load_keyring,
    parse_keyring_toml,
)
from gateway.errors import ConfigurationError

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
KEY_C = bytes(range(2, 34))


def _toml(master: bytes = KEY_A, *, active: str = "mk-1", extra: str = "") -> str:
    b64 = base64.b64encode
    return f"""
version = 1
[master]
active = "{active}"
[master.keys]
"mk-1" = "{b64(master).decode()}"
{extra}
[blind_index]
active = "bi-1"
[blind_index.keys]
"bi-1" = "{b64(KEY_B).decode()}"
[pseudonym]
active = "ps-1"
[pseudonym.keys]
"ps-1" = "{b64(KEY_C).decode()}"
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / DATA_KEYS_FILE).write_text(text, encoding="utf-8")
    return tmp_path


def test_loads_the_documented_format(tmp_path: Path) -> None:
    keyring = load_keyring(_write(tmp_path, _toml()))
    assert keyring.active_master_id == "mk-1"
    assert keyring.master_keys["mk-1"] == KEY_A
    assert keyring.index_keys == {"bi-1": KEY_B}
    assert keyring.pseudonym_keys == {"ps-1": KEY_C}


def test_generated_file_loads_and_documents_its_format(tmp_path: Path) -> None:
    text = generate_keyring_toml()
    assert "[master.keys]" in text and "DEVELOPMENT ONLY" not in text
    keyring = load_keyring(_write(tmp_path, text))
    assert len(keyring.master_keys[keyring.active_master_id]) == 32


def test_development_file_says_so_loudly() -> None:
    text = generate_keyring_toml(development=True)
    assert text.startswith("# ####")
    assert "DEVELOPMENT ONLY - NEVER USE THESE KEYS IN PRODUCTION" in text


def test_two_generated_files_have_different_keys() -> None:
    one, two = parse_keyring_toml(generate_keyring_toml()), parse_keyring_toml(
        generate_keyring_toml()
    )
    assert set(one.master_keys.values()).isdisjoint(two.master_keys.values())


def test_repr_shows_key_ids_but_never_key_bytes() -> None:
    keyring = parse_keyring_toml(_toml())
    text = repr(keyring) + str(keyring)
    assert "mk-1" in text and "bi-1" in text
    for key in (KEY_A, KEY_B, KEY_C):
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text
        assert repr(key) not in text


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_keyring(tmp_path)


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TOML"):
        load_keyring(_write(tmp_path, "version = = 1"))


def test_missing_version_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="version"):
        parse_keyring_toml(_toml().replace("version = 1", ""))


@pytest.mark.parametrize("typo", ["versoin = 1", "[mastr]\nactive = \"mk-1\"", "pkcs = 1"])
def test_an_unknown_top_level_key_is_refused(typo: str) -> None:
    with pytest.raises(ConfigurationError, match="data keys: unknown key"):
        parse_keyring_toml(_toml().replace("version = 1", "version = 1\n" + typo, 1))


def test_missing_section_is_refused() -> None:
    text = _toml().split("[pseudonym]")[0]
    with pytest.raises(ConfigurationError, match="pseudonym"):
        parse_keyring_toml(text)


def test_short_key_is_refused_without_echoing_it() -> None:
    short = bytes(range(31))
    with pytest.raises(ConfigurationError, match="32 bytes") as caught:
        parse_keyring_toml(_toml(short))
    assert base64.b64encode(short).decode() not in caught.value.diagnostics()


def test_bad_base64_is_refused_without_echoing_it() -> None:
    text = _toml().replace(base64.b64encode(KEY_A).decode(), "not*base64*secret")
    with pytest.raises(ConfigurationError, match="base64") as caught:
        parse_keyring_toml(text)
    assert "secret" not in caught.value.diagnostics()


def test_active_id_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="active"):
        parse_keyring_toml(_toml(active="mk-2"))


def test_same_key_material_in_two_sets_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="reuses"):
        parse_keyring_toml(_toml(KEY_B))


def test_key_id_that_cannot_travel_in_a_blob_is_refused() -> None:
    extra = f'"{"x" * 65}" = "{base64.b64encode(bytes(32)).decode()}"'
    with pytest.raises(ConfigurationError, match="key id"):
        parse_keyring_toml(_toml(extra=extra))


def test_rotation_keeps_old_master_keys_and_round_trips_through_toml() -> None:
    keyring = generate_keyring()
    rotated = keyring.with_new_master("mk-2025-01")
    assert rotated.active_master_id == "mk-2025-01"
    assert set(rotated.master_keys) == {keyring.active_master_id, "mk-2025-01"}
    reloaded = parse_keyring_toml(keyring_toml(rotated))
    assert dict(reloaded.master_keys) == dict(rotated.master_keys)
    assert reloaded.active_master_id == "mk-2025-01"


def test_rotation_to_an_existing_id_is_refused() -> None:
    keyring = generate_keyring()
    with pytest.raises(ConfigurationError):
        keyring.with_new_master(keyring.active_master_id)


def test_keyring_is_immutable() -> None:
    keyring = generate_keyring()
    with pytest.raises(AttributeError):
        keyring.active_master_id = "mk-x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        keyring.master_keys["mk-x"] = bytes(32)  # type: ignore[index]


def test_keyring_built_in_code_is_validated_too() -> None:
    with pytest.raises(ConfigurationError):
        Keyring(
            master_keys={"mk-1": b"short"},
            active_master_id="mk-1",
            index_keys={"bi-1": KEY_B},
            active_index_id="bi-1",
            pseudonym_keys={"ps-1": KEY_C},
            active_pseudonym_id="ps-1",
        )
