"""The keyring file: loading, validation, rotation, and keeping key bytes out of sight."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from gateway.crypto.keyring import (
    DATA_KEYS_FILE,
    KeyFile,
    Keyring,
    generate_keyring,
    generate_keyring_toml,
    keyring_toml,
    load_keyring,
    parse_keyring_toml,
)
from gateway.errors import ConfigurationError
from gateway.strict_toml import decode
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import KEYS

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
    with pytest.raises(ConfigurationError, match=r"data-keys\.toml:\d+: unknown key"):
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


# ------------------------------------------------------------------ a strict file

EXAMPLE = (KEYS / DATA_KEYS_FILE).read_text(encoding="utf-8")
WITH_TOKEN = EXAMPLE.replace("\nversion = 1\n", '\nversion = 1\n\n[pkcs11]\nmodule = "/usr/'
                             'lib/softhsm/libsofthsm2.so"\ntoken = "credgate"\npin_env = "PIN"\n'
                             '\n[master.suites]\n"mk-eb73cb64" = "international"\n', 1)
KEY_GROUPS = grouped(variants(DATA_KEYS_FILE, EXAMPLE, KeyFile)
                     + [v for v in variants(DATA_KEYS_FILE, WITH_TOKEN, KeyFile)
                        if v.origin and v.origin[0] == "pkcs11"])
MATERIAL = [line.split(" = ")[1].strip('"') for line in EXAMPLE.split("\n")
            if line.startswith('"') and " = " in line]


@pytest.mark.parametrize("group", KEY_GROUPS, ids=[group_id(g) for g in KEY_GROUPS])
def test_every_key_misspelt_missing_or_mistyped_is_refused_at_its_line_without_material(
        group: list[Variant]) -> None:
    for variant in group:
        message = check(variant, lambda doc, text: decode(doc, KeyFile, file=DATA_KEYS_FILE,
                                                          text=text), ConfigurationError)
        assert not any(key in message for key in MATERIAL), message


def test_every_kind_of_break_is_covered() -> None:
    kinds = {v.kind for group in KEY_GROUPS for v in group}
    assert kinds == {"misspelt", "misspelt in the file", "missing", "wrong type"}
    assert {v.origin[0] for g in KEY_GROUPS for v in g} == {
        "version", "master", "blind_index", "pseudonym", "pkcs11"}


@pytest.mark.parametrize(("old", "new", "says"), [
    ("[blind_index]\nactive = ", "[blind_index]\nactiv = ", "unknown key blind_index.activ"),
    ('[master]\nactive = "mk-eb73cb64"', "[master]\nactive = 7",
     "master.active must be a string, not an integer"),
    ("[master.keys]\n", "[master.kyes]\n", "unknown key master.kyes"),
    (r'^("mk-eb73cb64" = )(".*")$', r"\1[\2]",
     "master.keys.mk-eb73cb64 must be a string, not an array"),
    ("^version = 1$", "version = 2", "version must be 1 (this format)"),
    ("[pseudonym]\n", "[pseudonyms]\n", "unknown key pseudonyms"),
])
def test_the_gateway_refuses_a_broken_key_file_naming_the_line(
        tmp_path: Path, old: str, new: str, says: str) -> None:
    text, edits = re.subn(old if old.startswith("^") else re.escape(old), new, EXAMPLE,
                          count=1, flags=re.M)
    assert edits == 1
    # The line of the edit's last line (the key it breaks).
    start = re.search(old if old.startswith("^") else re.escape(old), EXAMPLE, re.M)
    assert start is not None
    line = EXAMPLE[:start.start()].count("\n") + 1 + new.rstrip("\n").count("\n")
    with pytest.raises(ConfigurationError) as info:
        load_keyring(_write(tmp_path, text))
    message = info.value.message
    assert message.startswith(f"{DATA_KEYS_FILE}:{line}: {says}"), (message, line)
    assert not any(key in message for key in MATERIAL), message
