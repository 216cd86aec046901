"""Operators and the masking facade: type rules, generalisation, the query path's defaults."""

from __future__ import annotations

import pytest

from gateway.catalogue.registry import FIELD_TYPES as CATALOGUE_TYPES
from gateway.pii.masks import mask_keep
from gateway.pii.normalise import normalise_mobile, normalise_name
from gateway.protect import masking
from gateway.protect.operators import (
    FIELD_TYPES,
    REDACTED,
    administrative_prefix,
    generalise_age,
    mask_keeping,
)


def test_the_facade_keeps_its_names() -> None:
    for name in ("mask_person_name", "mask_id_number", "mask_mobile", "mask_bank_card",
                 "generalise_address", "generalise_date", "redact", "mask_keep",
                 "mask_value", "MASKERS", "COMPOUND_SURNAMES", "MASK"):
        assert hasattr(masking, name), name


def test_every_catalogue_type_has_a_default_mask() -> None:
    assert set(CATALOGUE_TYPES) <= set(masking.MASKERS)
    assert set(masking.MASKERS) <= FIELD_TYPES


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        ("person_name", "欧阳明远", "欧阳**"),
        ("id_number", "330106198204171132", "330*************32"),
        ("mobile", "13812345678", "138****5678"),
        ("bank_card", "6222020200112233445", "***************3445"),
        ("address", "浙江省杭州市西湖区文三路100号3幢201室", "浙江省杭州市西湖区***"),
        ("date", "2026-05-01", "2026"),
        ("free_text", "支付货款人民币120,000元", REDACTED),
        ("money", "120000.00", REDACTED),
        ("code", "(2026)浙01执1234号", "(2***********4号"),
        ("text", "罚款5000元", "罚******"),
        ("enum", "未履行", "未**"),
        ("org_name", "某市中级人民法院", "某市中级人民法院"),
        ("uscc", "91350100M000100Y43", "91350100M000100Y43"),
        ("horoscope", "天蝎座", REDACTED),
    ],
)
def test_mask_value_defaults_of_the_query_path(field_type: str, value: str, expected: str
                                               ) -> None:
    assert masking.mask_value(field_type, value) == expected


@pytest.mark.parametrize(
    ("value", "first", "last", "expected"),
    [
        ("abcdef", 1, 1, "a****f"),
        ("abcdef", 0, 0, "******"),
        ("ab", 3, 2, "a*"),
        ("a", 1, 1, "*"),
        ("", 2, 2, "*"),
    ],
)
def test_mask_keep(value: str, first: int, last: int, expected: str) -> None:
    assert mask_keep(value, first, last) == expected


@pytest.mark.parametrize(
    ("field_type", "value", "first", "last", "expected"),
    [
        ("id_number", "330106 19820417 1132", 6, 4, "330106********1132"),
        ("mobile", "+86 138-1234-5678", 0, 4, "*******5678"),
        ("bank_card", "6222 0202 0011 2233 445", 6, 4, "622202*********3445"),
        ("person_name", "阿沛•阿旺晋美", 1, 0, "阿******"),
        ("code", " AB123456 ", 2, 2, "AB****56"),
    ],
)
def test_mask_keeping_works_on_the_normalised_value(field_type: str, value: str, first: int,
                                                    last: int, expected: str) -> None:
    assert mask_keeping(field_type, first, last)(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("阿沛 • 阿旺晋美", "阿沛·阿旺晋美"),
        ("阿沛··阿旺晋美", "阿沛·阿旺晋美"),
        ("·阿沛·", "阿沛"),
        ("欧阳　明远", "欧阳明远"),
        ("  John   Smith ", "John Smith"),
        ("ＪＯＨＮ", "JOHN"),
    ],
)
def test_normalise_name(value: str, expected: str) -> None:
    assert normalise_name(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+8613812345678", "13812345678"), ("008613812345678", "13812345678"),
     ("138 1234 5678", "13812345678"), ("86", "86")],
)
def test_normalise_mobile(value: str, expected: str) -> None:
    assert normalise_mobile(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("某某小区5幢", ""),  # a residential compound is not a district
        ("浙江省杭州市西湖区", "浙江省杭州市"),  # already a district: one level up
        ("浙江省", ""),
        ("北京市北京市朝阳区建国路", "北京市"),  # a unit repeated: stop at the first
        ("中国浙江省杭州市西湖区文三路", "中国浙江省杭州市西湖区"),
        ("ＡＢＣ路１号", ""),
    ],
)
def test_administrative_prefix(value: str, expected: str) -> None:
    assert administrative_prefix(value) == expected


@pytest.mark.parametrize(("value", "width", "expected"),
                         [("39", 10, "30-39"), ("40", 5, "40-44"), ("  18岁", 10, "10-19"),
                          ("-5", 10, "**"), ("abc", 10, "**")])
def test_generalise_age(value: str, width: int, expected: str) -> None:
    assert generalise_age(value, width) == expected
