"""The free-text scanner: what it finds, what it leaves alone, and that findings hide values."""

from __future__ import annotations

import pytest

from gateway.pii.scanner import (
    BANK_CARD,
    ID_NUMBER,
    MOBILE,
    NAME,
    OLD_ID_NUMBER,
    is_id_number,
    is_old_id_number,
    luhn_valid,
    mask_free_text,
    scan,
)

ID = "11010519900307021X"  # invented; check character X
CARD = "6228480012345671"  # invented; Luhn-valid


def kinds(text: str, **kw: object) -> list[str]:
    return [f.kind for f in scan(text, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"身份证{ID}。", [ID_NUMBER]),
        (f"身份证{ID.lower()}。", [ID_NUMBER]),
        ("身份证 110105 19900307 021X", [ID_NUMBER]),
        ("身份证 1101-0519-9003-0702-1X", [ID_NUMBER]),
        ("号码１１０１０５１９９００３０７０２１Ｘ", [ID_NUMBER]),
        ("号码١١٠١٠٥١٩٩٠٠٣٠٧٠٢١X", [ID_NUMBER]),  # Arabic-Indic digits
        (f"编号9{ID}", [ID_NUMBER]),  # glued to another digit: found inside the run
        ("旧证110105900307021", [OLD_ID_NUMBER]),
        ("电话13812345678", [MOBILE]),
        ("电话+8613812345678", [MOBILE]),
        ("电话 0086 138 1234 5678", [MOBILE]),
        ("电话138\u30001234\u30005678", [MOBILE]),
        ("电话一三八一二三四五六七八", [MOBILE]),
        (f"卡号{CARD}", [BANK_CARD]),
        ("卡号 6228 4800 1234 5671", [BANK_CARD]),
        (f"身份证{ID} 电话13812345678", [ID_NUMBER, MOBILE]),
    ],
)
def test_finds(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "身份证110105199003070211",  # wrong check character (X expected)
        "身份证110105199013070216",  # month 13
        "身份证010105199003070213",  # no province code starts with 0
        "卡号6228480012345670",  # Luhn fails
        "电话12812345678",  # no mobile prefix 12
        "电话0571-87654321",  # landline
        "金额12,000,000.00元，日期2026-05-01",
        "案号(2026)浙01执1234号",
        "统一社会信用代码91350100M000100Y43",
        "",
    ],
)
def test_leaves_alone(text: str) -> None:
    assert scan(text) == []
    assert mask_free_text(text) == text


def test_old_ids_are_optional() -> None:
    assert kinds("旧证110105900307021", old_ids=False) == []


def test_names_full_given_and_parts() -> None:
    text = "欧阳明远说明远不知情；阿沛・阿旺晋美与阿旺晋美；Li Na and Carolina"
    found = scan(text, names=["欧阳明远", "阿沛·阿旺晋美", "Li Na"])
    assert [f.kind for f in found] == [NAME] * 5
    assert mask_free_text(text, names=["欧阳明远", "阿沛·阿旺晋美", "Li Na"]) == (
        "欧阳**说**不知情；阿*·**与****；L* N* and Carolina")


def test_given_names_can_be_left_out() -> None:
    found = scan("欧阳明远说明远不知情", names=["欧阳明远"], given_names=False)
    assert [(f.start, f.end) for f in found] == [(0, 4)]


def test_single_character_names_are_not_searched() -> None:
    assert scan("王说了什么", names=["王", ""]) == []


def test_findings_never_show_the_value() -> None:
    (finding,) = scan(f"身份证{ID}")
    assert ID not in repr(finding) and "021X" not in repr(finding)
    assert finding.replacement == "110*************1X"


def test_non_strings_are_scanned_as_text() -> None:
    assert mask_free_text(13812345678) == "138****5678"  # type: ignore[arg-type]


def test_check_helpers() -> None:
    assert is_id_number(ID) and not is_id_number(ID[:-1] + "0")
    assert is_id_number("11010519490229002X") is False  # 1949 is not a leap year
    assert is_old_id_number("110105900307021") and not is_old_id_number("110105901307021")
    assert luhn_valid(CARD) and not luhn_valid(CARD[:-1] + "0")
