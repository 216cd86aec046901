"""The privacy review gate catches every planted leak and never repeats the data it found."""

from __future__ import annotations

import pytest

from gateway.disclosure.gate import GateResult, PrivacyReviewFailed, review_batch

NAME = "欧阳明远"
MINORITY = "阿沛·阿旺晋美"
ID = "11010519900307021X"  # invented subject
OTHER_ID = "540102198506151173"  # invented, not a subject of the batch
CLEAN = {"debtor_name": "欧阳**", "case_number": "(2026)浙01执1234号",
         "court_name": "杭州市中级人民法院", "amount": "120000.00",
         "address": "浙江省杭州市西湖区***", "company_code": "91350100M000100Y43",
         "token": "ps-1f0c9a7e:q2Vb7X_kz0-3mQwP1sYt"}


def review(*records: dict[str, object]) -> GateResult:
    return review_batch(list(records), subject_names=[NAME, MINORITY], subject_ids=[ID])


def test_a_clean_batch_passes() -> None:
    result = review(CLEAN, CLEAN)
    assert result.passed and result.reasons == () and result.values_checked == 14
    result.raise_for_failure()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"被执行人身份证号{OTHER_ID}，拒不履行", "contains an ID number"),
        (f"身份证号{ID}", "contains an ID number"),
        ("身份证号１１０１０５１９９００３０７０２１Ｘ", "contains an ID number"),
        ("身份证号 110105 19900307 021x", "contains an ID number"),
        ("编号一一〇一〇五一九九〇〇三〇七〇二一X", "contains an ID number"),
        (f"（证件号后四位除外）{ID[:17]}", "contains a subject's ID number"),
        (f"旧证{ID[:6]}{ID[8:17]}", "contains a subject's ID number"),
        ("11 01 05 19 90 03 07 02 1", "contains a subject's ID number"),
        ("联系电话138 1234 5678", "contains a mobile number"),
        ("联系电话+86-138-1234-5678", "contains a mobile number"),
        ("卡号6228 4800 1234 5671", "contains a bank card number"),
        (f"{NAME}拒不履行", "contains the name of a subject"),
        ("欧阳 明远拒不履行", "contains the name of a subject"),
        ("欧阳\u200b明远拒不履行", "contains the name of a subject"),
        ("阿沛•阿旺晋美", "contains the name of a subject"),
        ("阿沛 ・ 阿旺晋美", "contains the name of a subject"),
    ],
)
def test_every_planted_leak_is_caught(value: str, why: str) -> None:
    result = review(CLEAN, {**CLEAN, "narrative": value})
    assert not result.passed
    assert f"record 1 field narrative: {why}" in result.reasons


@pytest.mark.parametrize("value", [f"{NAME}拒不履行，身份证号{ID}，电话13812345678",
                                   "欧阳 明远，１１０１０５１９９００３０７０２１Ｘ"])
def test_reasons_never_contain_the_personal_data(value: str) -> None:
    result = review({"narrative": value})
    text = "\n".join(result.reasons)
    for secret in (NAME, "明远", ID, ID[:6], "0307", "13812345678", "5678"):
        assert secret not in text
    with pytest.raises(PrivacyReviewFailed) as info:
        result.raise_for_failure()
    assert NAME not in info.value.message and ID not in info.value.diagnostics()


def test_field_names_that_are_not_codes_are_not_echoed() -> None:
    result = review({NAME: "欧阳**", "ok": None})
    assert result.reasons == ("record 0 field #0 name: contains the name of a subject",)
    assert result.values_checked == 1


def test_non_string_values_and_non_mappings() -> None:
    result = review_batch([{"amount": 13812345678}, ["not", "a", "record"]],  # type: ignore[list-item]
                          subject_names=[], subject_ids=[])
    assert result.reasons == ("record 0 field amount: contains a mobile number",
                              "record 1: is not a mapping of fields")


def test_a_latin_name_in_any_case_or_width() -> None:
    result = review_batch([{"a": "JOHN  SMITH"}, {"a": "Ｊｏｈｎ Ｓｍｉｔｈ"}, {"a": "J* S*"}],
                          subject_names=["John Smith"], subject_ids=[])
    assert result.reasons == ("record 0 field a: contains the name of a subject",
                              "record 1 field a: contains the name of a subject")


def test_many_subjects_are_indexed_not_scanned_one_by_one() -> None:
    names = [f"王{chr(0x4E00 + i)}{chr(0x4E00 + i // 7)}" for i in range(5000)]
    records = [{"narrative": f"{names[i]}的案件"} for i in range(0, 5000, 50)]
    result = review_batch(records, subject_names=names, subject_ids=[])
    assert len(result.reasons) == len(records)


def test_names_starting_with_pattern_characters_are_still_found() -> None:
    # The gate finds where a name may start with a character class of first characters;
    # characters special inside a class must stand for themselves.
    names = ["]x", "^y", "\\z", "[v"]  # ("-" is a filler: names never start with it)
    records = [{"a": f"note {name} end"} for name in names] + [{"a": "xyzv ]^\\["}]
    result = review_batch(records, subject_names=names, subject_ids=[])
    assert result.reasons == tuple(f"record {i} field a: contains the name of a subject"
                                   for i in range(len(names)))
