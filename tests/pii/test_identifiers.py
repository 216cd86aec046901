"""The caller-identifier grammar: what it lets through never holds a personal number."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.keyring import load_keyring
from gateway.pii.identifiers import (
    MalformedIdentifier,
    check_identifier,
    is_identifier,
    nearest_code,
    refused_value_digest,
)
from gateway.pii.idnumber import make_id_number
from tests.support import ADULT, KEYS

_ALPHABET = "abcXYZ0123456789._:=-"
_CN = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖"


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET + "()〔〕浙执号/#" + _CN, min_size=1, max_size=60))
def test_nothing_accepted_holds_a_run_of_15_digits(value: str) -> None:
    table = str.maketrans(_CN, "001223456789123456789")
    for document in (False, True):
        if is_identifier(value, document=document):
            assert not re.search(r"[0-9]{15}", value.translate(table))


@settings(max_examples=200, deadline=None)
@given(st.dates(), st.integers(1, 999), st.sampled_from(["-", ".", ":", "〔", ")浙", "=="]),
       st.integers(1, 17))
def test_an_id_number_split_anywhere_by_separators_is_refused(born, seq, sep, cut) -> None:  # type: ignore[no-untyped-def]
    if not 1900 <= born.year <= 2099:
        return
    number = make_id_number("110105", born, seq)
    value = f"ab{number[:cut]}{sep}{number[cut:]}cd"
    assert not is_identifier(value, document=True)


def test_generated_consent_ids_and_document_numbers_are_accepted() -> None:
    for _ in range(3000):
        assert is_identifier(f"consent-{uuid.uuid4()}", min_chars=8)
    for value in ("(2026)浙01执1234号", "市监罚〔2026〕88号", "(2026)浙01执5678号-更正"):
        assert is_identifier(value, document=True) and not is_identifier(value)


def test_a_refusal_names_the_identifier_and_length_only() -> None:
    with pytest.raises(MalformedIdentifier) as info:
        check_identifier(f"x{ADULT}", what="consent_id", where="record 2")
    assert ADULT not in str(info.value) and ADULT not in info.value.diagnostics()
    assert info.value.message.startswith("record 2: consent_id holds what reads")
    assert "(length 19)" in info.value.message and info.value.reason == "malformed_consent_id"
    assert ADULT not in repr(info.value)


def test_the_digest_is_keyed_stable_and_has_no_digit_runs() -> None:
    keyring = load_keyring(KEYS)
    digest = refused_value_digest(keyring, ADULT)
    assert digest == refused_value_digest(keyring, ADULT)
    assert digest != refused_value_digest(keyring, ADULT + "0")
    assert ADULT not in digest and not re.search(r"[0-9]{8}", digest)


def test_the_nearest_code_is_a_catalogue_code_or_nothing() -> None:
    codes = ["dishonest_debtor", "identity", "violation"]
    assert nearest_code("dishonest_debtr", codes) == " (nearest valid code: dishonest_debtor)"
    assert nearest_code(ADULT, codes) == "" and nearest_code(None, codes) == ""
