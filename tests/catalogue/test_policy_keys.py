"""catalogue.toml, parties.toml, purposes.toml and sharing.toml are strict: a misspelt key,
a missing required key or a value of the wrong type anywhere is refused with its file,
line and key path, never read as absent or coerced."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue.policy_keys import CatalogueFile, PartiesFile, PurposesFile, SharingFile
from gateway.catalogue.registry import load_catalogue
from gateway.cli import main
from gateway.cli.common import EXIT_REFUSED
from gateway.errors import ConfigurationError
from gateway.policy.validate import validate_policy
from gateway.protect.profiles import MASKING_FILE, read_profiles
from gateway.strict_toml import decode
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import POLICIES

FILES: dict[str, Any] = {"catalogue.toml": CatalogueFile, "parties.toml": PartiesFile,
                         "purposes.toml": PurposesFile, "sharing.toml": SharingFile}
VARIANTS = [(name, v) for name, into in FILES.items()
            for v in variants(name, (POLICIES / name).read_text(encoding="utf-8"), into)]
GROUPS = [(name, group) for name in FILES
          for group in grouped([v for n, v in VARIANTS if n == name])]


def test_the_shipped_files_load() -> None:
    for name, into in FILES.items():
        text = (POLICIES / name).read_text(encoding="utf-8")
        assert decode(tomllib.loads(text), into, file=name, text=text)
    assert load_catalogue(POLICIES).sharing


@pytest.mark.parametrize(("name", "group"), GROUPS,
                         ids=[f"{n}:{group_id(g)}" for n, g in GROUPS])
def test_every_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        name: str, group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: decode(doc, FILES[name], file=name, text=text),
              ConfigurationError)


def test_every_kind_of_break_is_covered() -> None:
    kinds = {(name, v.kind) for name, v in VARIANTS}
    for name in FILES:
        for kind in ("misspelt", "misspelt in the file", "missing", "wrong type"):
            # Every key of sharing.toml has a default: none can be missing.
            assert (name, kind) in kinds or (name, kind) == ("sharing.toml", "missing")
    # One per declared key of the catalogue's tables, parties, purposes and sharing.
    assert sum(v.kind == "wrong type" for _, v in VARIANTS) > 90
    assert ("catalogue.toml", "out of range") in kinds


@pytest.mark.parametrize(("name", "old", "new", "at", "says"), [
    ("catalogue.toml", 'polarity = "neutral"\n', "", "[categories.identity]",
     "missing key categories.identity.polarity"),
    ("catalogue.toml", "\npublic = false", '\npublic = "no"', 'public = "no"',
     "categories.identity.public must be true or false, not a string"),
    ("catalogue.toml", "min_subject_age = 18", "min_subject_age = -18", "min_subject_age = -",
     "categories.student_integrity.min_subject_age must be a whole number >= 0"),
    ("catalogue.toml", 'display = { not_applicable = "until_removed" }',
     'display = ["until_removed"]', "display = [",
     "categories.identity.display must be a table, not an array"),
    ("catalogue.toml", "[severities]", "severities = 3\n[xseverities]", "severities = 3",
     "severities must be a table, not an integer"),
    ("parties.toml", 'kind = "department"\n', "", "[parties.court]",
     "missing key parties.court.kind"),
    ("parties.toml", 'roles = ["department", "court"]', 'roles = "court"', 'roles = "court"',
     "parties.court.roles must be an array, not a string"),
    ("purposes.toml", "consent_required = false\n", "", "[purposes.cadre_selection]",
     "missing key purposes.cadre_selection.consent_required"),
    ("purposes.toml", "consent_required = false", 'consent_required = "false"',
     'consent_required = "false"',
     "purposes.cadre_selection.consent_required must be true or false, not a string"),
    ("purposes.toml", "disclosure_delay_days = 180", "disclosure_delay_days = -180",
     "disclosure_delay_days = -", "must be a whole number >= 0"),
    ("sharing.toml", "receive = [", "recieve = [", "recieve = [",
     "unknown key sharing.province.recieve"),
    ("sharing.toml", 'purpose = "platform_sharing"', "purpose = 1", "purpose = 1",
     "sharing.province.purpose must be a string, not an integer"),
])
def test_the_loader_and_validate_report_it_at_the_line(tmp_path: Path, name: str, old: str,
                                                       new: str, at: str, says: str) -> None:
    """Edits of each kind through load_catalogue and `policy validate`: FILE:LINE, the key
    path and what was expected."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    text = (policies / name).read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    (policies / name).write_text(text, encoding="utf-8")
    line = next(n for n, written in enumerate(text.split("\n"), start=1) if at in written)
    with pytest.raises(ConfigurationError) as info:
        load_catalogue(policies)
    assert info.value.message.startswith(f"{name}:{line}: ")
    assert says in info.value.message
    findings = validate_policy(policies)
    assert [(f.severity, f.file, f.line) for f in findings] == [("error", name, line)]
    assert says in findings[0].message
    assert main(["policy", "validate", "--policies", str(policies)]) == EXIT_REFUSED


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
