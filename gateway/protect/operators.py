"""De-identification operators for Chinese personal data (GB/T 37964-2019, GB/T 35273-2020).

The operators are those of GB/T 37964-2019: keep; masking, a form of suppression that
keeps the first m and last n characters; redaction (suppress the whole value);
generalisation (birth date to year, age to a ten-year band, address to its district or
county); pseudonymisation with a keyed token (``gateway.crypto.blind_index.pseudonym``,
applied by the profiles); and drop (the field is not released at all).

The maskers and normalisers of personal-data types are the ground's
(``gateway.pii.masks``, ``gateway.pii.normalise``); this module puts them together per
catalogue field type, beside generalisation and redaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.catalogue.registry import FIELD_TYPES as CATALOGUE_FIELD_TYPES
from gateway.pii.masks import (
    MASK,
    mask_bank_card,
    mask_id_number,
    mask_keep,
    mask_mobile,
    mask_person_name,
    never_unchanged,
)
from gateway.pii.normalise import nfkc, normalise_name

REDACTED = "[redacted]"
# Field types the operators know: the catalogue's, plus "age" (generalised to a band).
FIELD_TYPES = CATALOGUE_FIELD_TYPES | {"age"}
SENSITIVE_TYPES = frozenset({"person_name", "id_number", "mobile", "bank_card", "address"})
_YEAR = re.compile(r"\s*((?:1[89]|2[0-9])[0-9]{2})(?:[0-9]{4})?(?![0-9])")
_NUMBER = re.compile(r"\s*([0-9]{1,3})(?![0-9])")


def keep(value: str) -> str:
    """Release the value unchanged (organisations, enumerations, the subject's own view)."""
    return value


def redact(value: str) -> str:
    """Replace the whole value (suppression)."""
    return REDACTED


# ---------------------------------------------------------------- generalisation

# One administrative unit: a name, then the suffix of its level. Street-level words
# (路 街 号 ...) never occur in a unit's name, and nor do digits, letters (B区, Ⅱ区 once
# NFKC has made it II区), blanks, punctuation or symbols: real divisions are named in
# Chinese characters only, and a unit that is not stops the prefix a level higher.
_UNIT_NAME = r"[^省市区县旗盟镇乡路街号巷弄栋幢楼室层座村组\W\dA-Za-z_\u00c0-\u052f]"
_UNIT = re.compile(rf"{_UNIT_NAME}{{1,12}}?自治州|{_UNIT_NAME}{{1,12}}[省市区县旗盟]")
_MUNICIPALITIES = frozenset({"北京市", "上海市", "天津市", "重庆市"})
_NOT_ADMIN_ENDINGS = (
    "小区", "社区", "园区", "工业区", "校区", "景区", "街区", "厂区", "营区", "院区",
    "住宅区", "生活区", "片区", "商业区", "服务区", "超市", "菜市", "夜市", "集市", "门市",
)
_PROVINCE, _PREFECTURE, _COUNTY = 0, 1, 2
# A county-level name does not end in a numeral (东一区, 三区), 二七区 of Zhengzhou aside
# (陆 is left out: 平陆县, 安陆市, 下陆区); and a name with an estate's word before its
# last character is an estate's part (龙泽苑西区, 和家园东区; 清苑区, 下花园区 are real).
_NUMERALS = frozenset("〇零一二三四五六七八九十百千两壹贰叁肆伍柒捌玖拾")
_NUMBERED_DIVISIONS = frozenset({"二七区"})
_ESTATE_WORDS = ("苑", "家园", "花园", "公寓", "大院", "山庄", "新村", "公馆", "庄园",
                 "别墅", "大厦", "广场")
_ESTATE_WORD = re.compile("|".join(_ESTATE_WORDS))


def _unit_level(unit: str, previous: int) -> int:
    """The level of an administrative unit, given the level of the unit before it."""
    last = unit[-1]
    if last == "省":
        return _PROVINCE
    if last == "区":
        if unit.endswith(("自治区", "特别行政区")):
            return _PROVINCE
        return _PREFECTURE if unit.endswith("地区") else _COUNTY
    if last == "州" or last == "盟":
        return _PREFECTURE
    if last == "市":
        if unit in _MUNICIPALITIES:
            return _PROVINCE
        # A city under a prefecture is a county-level city (苏州市昆山市).
        return _COUNTY if previous == _PREFECTURE else _PREFECTURE
    return _COUNTY  # 县 旗


def _estate_like(unit: str) -> bool:
    """Whether a county-level unit is named like a housing estate (东一区, 桂花苑西区)."""
    if unit[-2] in _NUMERALS:
        return unit not in _NUMBERED_DIVISIONS
    return _ESTATE_WORD.search(unit, 0, len(unit) - 2) is not None


def administrative_prefix(value: str) -> str:
    """The province / prefecture / district-or-county units an address starts with."""
    text = nfkc(value).strip()
    units: list[str] = []
    pos, level = 0, -1
    while len(units) < 4:
        match = _UNIT.match(text, pos)
        if match is None:
            break
        unit = match.group()
        if unit[-1] in "区市" and (unit.endswith(_NOT_ADMIN_ENDINGS) or (
                unit[-1] == "市" and text[match.end():match.end() + 1] == "场") or (
                unit.endswith("城市") and text.startswith(_ESTATE_WORDS, match.end()))):
            break  # a market, or an estate such as 万科城市花园
        unit_level = _unit_level(unit, level)
        if unit_level < level or (unit_level == level and unit_level != _PREFECTURE):
            break
        if unit_level == _COUNTY and _estate_like(unit):
            break  # over-generalising is the safe side: keep the level above only
        units.append(unit)
        pos, level = match.end(), unit_level
        if level == _COUNTY:
            break
    if units and pos >= len(text):
        units.pop()  # the whole address is a district: generalise one level further
    return "".join(units)


def generalise_address(value: str) -> str:
    """Generalise an address to its district or county (区/县/旗/县级市), dropping the rest."""
    prefix = administrative_prefix(value)
    return never_unchanged(prefix + MASK * 3, value)


def generalise_date(value: str) -> str:
    """Generalise a date (1982-04-17, 1982年4月17日, 19820417) to its year."""
    match = _YEAR.match(nfkc(value))
    if match is None:
        return MASK * 4
    return match.group(1)


def generalise_age(value: str, width: int = 10) -> str:
    """Generalise an age in years to a band such as "30-39"."""
    match = _NUMBER.match(nfkc(value))
    if match is None or width < 1:
        return MASK * 2
    low = int(match.group(1)) // width * width
    return f"{low}-{low + width - 1}"


GENERALISERS: dict[str, Callable[[str], str]] = {
    "date": generalise_date,
    "age": generalise_age,
    "address": generalise_address,
}

# The default mask of each type ("mask" in a profile, "masked" release in a query).
TYPE_MASKS: dict[str, Callable[[str], str]] = {
    "person_name": mask_person_name,
    "id_number": mask_id_number,
    "mobile": mask_mobile,
    "bank_card": mask_bank_card,
    "address": generalise_address,
    "date": generalise_date,
    "age": generalise_age,
    "free_text": redact,
    "code": lambda v: mask_keep(v, 2, 2),
    "money": redact,
    "text": lambda v: mask_keep(v, 1, 0),
    "enum": lambda v: mask_keep(v, 1, 0),
    # Organisations are not personal data (they stay in clear even when "masked").
    "org_name": keep,
    "uscc": keep,
}


def mask_keeping(field_type: str, first: int, last: int) -> Callable[[str], str]:
    """A masker keeping the first and last characters of a type's normalised value."""
    if field_type == "id_number":
        return lambda v: mask_id_number(v, first, last)
    if field_type == "mobile":
        return lambda v: mask_mobile(v, first, last)
    if field_type == "bank_card":
        return lambda v: mask_bank_card(v, first, last)
    if field_type == "person_name":
        return lambda v: never_unchanged(mask_keep(normalise_name(v), first, last), v)
    return lambda v: never_unchanged(mask_keep(v.strip(), first, last), v)
