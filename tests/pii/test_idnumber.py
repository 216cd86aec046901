"""GB 11643-1999 ID numbers: check character, birth date, no echo of the value."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidArgument
from gateway.pii.idnumber import check_character, make_id_number, parse_id_number

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "id_numbers.json").read_text())
TODAY = date(2026, 11, 28)


@pytest.mark.parametrize("name", sorted(VECTORS["valid"]))
def test_valid_vectors_parse(name: str) -> None:
    parsed = parse_id_number(VECTORS["valid"][name], today=TODAY)
    assert parsed.value == VECTORS["valid"][name].upper()


@pytest.mark.parametrize("name", sorted(VECTORS["invalid"]))
def test_invalid_vectors_refused_without_echo(name: str) -> None:
    value = VECTORS["invalid"][name]
    with pytest.raises(InvalidArgument) as info:
        parse_id_number(value, today=TODAY)
    if value:
        assert value not in str(info.value)
        assert value[:17] not in info.value.diagnostics()


def test_standard_example_check_character_is_x() -> None:
    assert check_character("11010519491231002") == "X"


def test_lower_case_x_accepted() -> None:
    assert parse_id_number("11010519491231002x", today=TODAY).value.endswith("X")


def test_age_and_sex_from_the_number() -> None:
    parsed = parse_id_number(make_id_number("330106", date(2008, 11, 29), 13), today=TODAY)
    assert parsed.age_on(date(2026, 11, 28)) == 17
    assert parsed.age_on(date(2026, 11, 29)) == 18
    assert parsed.is_male


def test_repr_hides_the_value() -> None:
    value = VECTORS["valid"]["hangzhou-1982"]
    parsed = parse_id_number(value, today=TODAY)
    assert value not in repr(parsed) and value not in str(parsed)


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999))
def test_composed_numbers_always_validate(birth: date, seq: int) -> None:
    value = make_id_number("440305", birth, seq)
    assert parse_id_number(value, today=TODAY).birth_date == birth


FIXED_MESSAGES = {
    "subject_id is required",
    "subject_id must have 18 characters",
    "subject_id must start with 17 digits",
    "subject_id has a wrong check character",
    "subject_id has an impossible birth date",
    "subject_id has a birth date out of range",
}


@given(st.text(max_size=30))
def test_arbitrary_text_gets_a_fixed_message(text: str) -> None:
    try:
        parse_id_number(text, today=TODAY)
    except InvalidArgument as exc:
        assert str(exc) in FIXED_MESSAGES
