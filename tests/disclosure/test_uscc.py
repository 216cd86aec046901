"""Unified social credit codes (GB 32100-2015): check character, layout, refusals."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidArgument
from gateway.records.uscc import (
    CHARSET,
    WEIGHTS,
    check_character,
    is_uscc,
    make_uscc,
    parse_uscc,
)


def test_character_set_and_weights_of_the_standard() -> None:
    assert len(CHARSET) == 31 and not set("IOZSV") & set(CHARSET)
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_the_standards_worked_example() -> None:
    # GB 32100-2015: 91350100M000100Y4Z is checked step by step; the products sum to
    # 1640, 1640 mod 31 = 28, so C18 = 31 - 28 = 3 and the Z is wrong.
    values = [CHARSET.index(c) for c in "91350100M000100Y4"]
    assert sum(v * w for v, w in zip(values, WEIGHTS, strict=True)) == 1640
    assert check_character("91350100M000100Y4") == "3"
    assert not is_uscc("91350100M000100Y4Z") and is_uscc("91350100M000100Y43")


def test_a_published_example_checked_by_hand() -> None:
    # 92371000MA3MXH0E3W (a sole proprietor's code, Shandong), by hand:
    # 9*1 + 2*3 + 3*9 + 7*27 + 1*19 + 0 + 0 + 0 + M(21)*20 + A(10)*29 + 3*25 + M(21)*13
    # + X(29)*8 + H(17)*24 + 0*10 + E(14)*30 + 3*28 = 2452; 2452 mod 31 = 3;
    # 31 - 3 = 28, the character W.
    assert check_character("92371000MA3MXH0E3") == "W"


def test_a_check_value_of_31_is_written_0() -> None:
    # Find a body whose weighted sum is a multiple of 31: its check character is 0.
    body = next(f"9111010500000{n:04d}" for n in range(10000)
                if sum(CHARSET.index(c) * w for c, w in
                       zip(f"9111010500000{n:04d}", WEIGHTS, strict=True)) % 31 == 0)
    assert check_character(body) == "0" and is_uscc(body + "0")


def test_parse_gives_the_parts() -> None:
    code = parse_uscc(" 91350100m000100y43 ")
    assert code.value == "91350100M000100Y43"
    assert (code.registration_authority, code.organisation_type) == ("9", "1")
    assert code.division_code == "350100" and code.subject_code == "M000100Y4"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "uscc_missing"),
        ("91350100M000100Y4", "uscc_length"),
        ("91350100M000100Y4I", "uscc_format"),
        ("9135A100M000100Y4Y", "uscc_division"),
        ("91350100M000100Y4Z", "uscc_format"),  # Z is not even in the character set
        ("91350100M000100Y44", "uscc_checksum"),
    ],
)
def test_refusals_name_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_uscc(text, field="company_code")
    assert info.value.reason == reason and "company_code" in info.value.message


def test_make_completes_the_code() -> None:
    assert make_uscc("91110105ma01abcd2") == "91110105MA01ABCD26"
    with pytest.raises(InvalidArgument):
        make_uscc("91110105MA01OBCD2")
    assert not is_uscc(None)  # type: ignore[arg-type]
