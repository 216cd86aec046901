"""The desensitisation corpus (tests/vectors/disclosure/corpus.json): every expected output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.crypto.keyring import generate_keyring
from gateway.disclosure.gate import review_batch
from gateway.pii.masks import mask_bank_card, mask_id_number, mask_mobile, mask_person_name
from gateway.pii.scanner import mask_free_text
from gateway.protect.operators import generalise_address, generalise_age, generalise_date
from gateway.protect.profiles import MaskingProfiles
from gateway.records.uscc import is_uscc
from tests.support import POLICIES

CORPUS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "disclosure" / "corpus.json")
    .read_text(encoding="utf-8"))
SIMPLE = {
    "names": mask_person_name,
    "id_numbers": mask_id_number,
    "mobiles": mask_mobile,
    "bank_cards": mask_bank_card,
    "addresses": generalise_address,
    "dates": generalise_date,
    "ages": generalise_age,
}


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [(section, value, expected) for section in SIMPLE for value, expected in CORPUS[section]],
)
def test_type_rules(section: str, value: str, expected: str) -> None:
    assert SIMPLE[section](value) == expected


@pytest.mark.parametrize("case", CORPUS["narratives"], ids=lambda c: c["case"])
def test_narratives(case: dict[str, Any]) -> None:
    assert mask_free_text(case["text"], names=case["names"]) == case["expected"]


@pytest.mark.parametrize("case", CORPUS["narratives"], ids=lambda c: c["case"])
def test_masked_narratives_pass_the_gate(case: dict[str, Any]) -> None:
    masked = mask_free_text(case["text"], names=case["names"])
    result = review_batch([{"narrative": masked}], subject_names=case["names"], subject_ids=[])
    assert result.passed, result.reasons


@pytest.mark.parametrize("case", CORPUS["public_records"], ids=lambda c: c["case"])
def test_public_profile_on_records(case: dict[str, Any]) -> None:
    profiles = MaskingProfiles.load(POLICIES, keyring=generate_keyring())
    out = profiles.apply_record("public", case["category"], case["values"], case["types"],
                                names=case["names"])
    assert out == case["expected"]
    assert review_batch([out], subject_names=case["names"], subject_ids=[]).passed


@pytest.mark.parametrize("code", CORPUS["uscc"]["valid"].values(),
                         ids=list(CORPUS["uscc"]["valid"]))
def test_valid_credit_codes(code: str) -> None:
    assert is_uscc(code)


@pytest.mark.parametrize("code", CORPUS["uscc"]["invalid"].values(),
                         ids=list(CORPUS["uscc"]["invalid"]))
def test_invalid_credit_codes(code: str) -> None:
    assert not is_uscc(code)
