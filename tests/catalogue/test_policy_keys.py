"""A misspelt key anywhere in catalogue.toml, parties.toml or purposes.toml is refused."""

from __future__ import annotations

import copy
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue.policy_keys import (
    CATALOGUE_KEYS,
    PARTIES_KEYS,
    PURPOSES_KEYS,
    Schema,
    check_keys,
)
from gateway.catalogue.registry import load_catalogue
from gateway.errors import ConfigurationError
from gateway.policy.validate import validate_policy
from gateway.protect.profiles import MASKING_FILE, read_profiles
from tests.support import POLICIES

FILES: dict[str, Schema] = {"catalogue.toml": CATALOGUE_KEYS, "parties.toml": PARTIES_KEYS,
                            "purposes.toml": PURPOSES_KEYS}
DOCS = {name: tomllib.loads((POLICIES / name).read_text(encoding="utf-8")) for name in FILES}


def key_paths(table: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a parsed TOML document, tables included."""
    for key, value in table.items():
        yield (*path, key)
        if isinstance(value, dict):
            yield from key_paths(value, (*path, key))


def misspellings(key: str) -> set[str]:
    """Typos of a key: a letter dropped, two letters swapped, one doubled, a capital."""
    out = {key[:i] + key[i + 1:] for i in range(len(key))}
    out |= {key[:i] + key[i + 1] + key[i] + key[i + 2:] for i in range(len(key) - 1)}
    out |= {key[:i] + key[i] + key[i:] for i in range(len(key))}
    out.add(key.capitalize())
    return out - {key}


def _declared(path: tuple[str, ...], schema: Schema) -> set[str]:
    """The keys the schema allows beside the last key of path (empty under a wildcard)."""
    for key in path[:-1]:
        sub = schema.get("*", schema.get(key))
        assert isinstance(sub, dict)
        schema = sub
    return set() if "*" in schema else set(schema)


CASES = [(name, path) for name, doc in DOCS.items() for path in key_paths(doc)]
# One case per declared key shape (category codes and the like collapse), so that every
# key of every table is misspelt without repeating the same table for each category.
SHAPES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
for _name, _path in CASES:
    if _declared(_path, FILES[_name]):
        shape = tuple(k if k in _declared(_path[:i + 1], FILES[_name]) else "*"
                      for i, k in enumerate(_path))
        SHAPES.setdefault((_name, shape), _path)


def test_the_shipped_files_hold_only_declared_keys() -> None:
    for name, doc in DOCS.items():
        check_keys(doc, FILES[name], name)
    load_catalogue(POLICIES)


@pytest.mark.parametrize(("name", "path"), sorted({(n, p) for (n, _), p in SHAPES.items()}),
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_every_misspelt_key_is_refused_with_its_path(name: str, path: tuple[str, ...]) -> None:
    allowed = _declared(path, FILES[name])
    for typo in misspellings(path[-1]) - allowed:
        doc = copy.deepcopy(DOCS[name])
        table = doc
        for key in path[:-1]:
            table = table[key]
        table[typo] = table.pop(path[-1])
        with pytest.raises(ConfigurationError) as info:
            check_keys(doc, FILES[name], name)
        assert info.value.message == f"{name}: unknown key {'.'.join((*path[:-1], typo))}"


def test_every_declared_key_shape_is_covered() -> None:
    assert len(SHAPES) > 60  # the catalogue's tables, parties and purposes


@pytest.mark.parametrize(("name", "old", "new", "where"), [
    ("catalogue.toml", "\npublic = false", "\npublc = true", "categories."),
    ("parties.toml", "\nconsent_issuer = ", "\nconsent_isuer = ", "parties."),
    ("purposes.toml", "\nconsent_required = ", "\nconsent_requird = ", "purposes."),
])
def test_a_typo_is_refused_at_load_and_by_validate(tmp_path: Path, name: str, old: str,
                                                   new: str, where: str) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    text = (policies / name).read_text(encoding="utf-8")
    assert old in text
    (policies / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    typo = new.strip().split(" ")[0]
    with pytest.raises(ConfigurationError) as info:
        load_catalogue(policies)
    at = re.match(rf"{re.escape(name)}:(\d+): unknown key {re.escape(where)}", info.value.message)
    assert at is not None and info.value.message.endswith(f".{typo}")
    # The message names the line of the misspelt key (file:line, as every loader gives it).
    assert new.strip() in (policies / name).read_text(encoding="utf-8").split("\n")[
        int(at[1]) - 1]
    findings = validate_policy(policies)
    assert [f.severity for f in findings] == ["error"]
    assert typo in findings[0].message and findings[0].file == name
    assert new.strip() in (policies / name).read_text(encoding="utf-8").split("\n")[
        findings[0].line - 1]  # the finding points at the misspelt line


def test_a_typo_in_masking_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    text = (policies / MASKING_FILE).read_text(encoding="utf-8")
    assert "\ndescription = " in text
    (policies / MASKING_FILE).write_text(text.replace("\ndescription = ", "\ndescripton = ", 1),
                                         encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        read_profiles(policies)
    at = re.match(r"masking\.toml:(\d+): unknown key [\w-]+\.descripton$", info.value.message)
    assert at is not None
    assert (policies / MASKING_FILE).read_text(encoding="utf-8").split("\n")[
        int(at[1]) - 1].startswith("descripton = ")
    findings = validate_policy(policies)
    assert [(f.severity, f.file, f.line) for f in findings] == [
        ("error", MASKING_FILE, int(at[1]))]


def test_the_shipped_masking_file_holds_only_declared_keys() -> None:
    assert read_profiles(POLICIES)
