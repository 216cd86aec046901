"""De-identification operators for Chinese personal data (GB/T 37964-2019, GB/T 35273-2020).

The operators are those of GB/T 37964-2019: keep; masking, a form of suppression that
keeps the first m and last n characters; redaction (suppress the whole value);
generalisation (birth date to year, age to a ten-year band, address to its district or
county); pseudonymisation with a keyed token (``gateway.crypto.blind_index.pseudonym``,
applied by the profiles); and drop (the field is not released at all).

Type-aware rules normalise a value before they mask it: a name's dots, blanks and
full-width letters, the +86 and separators of a mobile number, the blanks of a bank
card number. A masker of a sensitive type never returns its input unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from gateway.records.catalogue import FIELD_TYPES as CATALOGUE_FIELD_TYPES

MASK = "*"
REDACTED = "[redacted]"
# Field types the operators know: the catalogue's, plus "age" (generalised to a band).
FIELD_TYPES = CATALOGUE_FIELD_TYPES | {"age"}
SENSITIVE_TYPES = frozenset({"person_name", "id_number", "mobile", "bank_card", "address"})
# Two-character surnames (复姓) that must be kept whole when a name is masked.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里",
        "呼延", "澹台", "万俟", "闻人", "赫连", "申屠", "公羊", "太史", "钟离", "拓跋",
        "第五", "左丘", "东郭", "鲜于", "闾丘", "司空", "亓官", "巫马", "乐正", "壤驷",
    }
)
# The separator of minority names (阿沛·阿旺晋美) is written with many dots: the middle
# dot, bullet, hyphenation point, katakana middle dot (full and half width), the Greek
# ano teleia, dot operators, the ASCII and full-width full stops, and the look-alikes
# an input method may give (sinological dot, Hangul araea, ring point, IPA half colon).
NAME_DOT = "·"
NAME_DOTS = "·•‧・･∙⋅.．\u0387\u16eb\u2e31\ua78f\u318d\u2e30\u02d1"
_DOT_TABLE = str.maketrans({dot: NAME_DOT for dot in NAME_DOTS})
_NAME_PLAIN = re.compile("[\u4e00-\u9fff]{1,16}")
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_BLANKS = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_ID_SEPARATORS = re.compile(r"[\s\-]+")
_YEAR = re.compile(r"\s*((?:1[89]|2[0-9])[0-9]{2})(?:[0-9]{4})?(?![0-9])")
_NUMBER = re.compile(r"\s*([0-9]{1,3})(?![0-9])")
# Characters that do not show, so they can sit unseen inside a name or a number: format
# controls (Cf: soft hyphen, zero-width and bidi controls, BOM), combining and enclosing
# marks (Mn, Me: accents, variation selectors, CGJ, keycaps), the Hangul fillers and
# the default-ignorable code points that are still unassigned.
_HIDDEN_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
_HIDDEN_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u2065\ufff0\ufff1\ufff2\ufff3\ufff4"
                          "\ufff5\ufff6\ufff7\ufff8")
# The characters ordinary text is made of (ASCII, CJK ideographs and punctuation, general
# punctuation, full-width forms) but blanks: none is hidden or decomposes to a hidden
# character, so text made of them and blanks skips the per-character check altogether.
_SHOWN = (r"\x21-\x7e\u00b7\u2010-\u2016\u2018-\u2027\u2030-\u203d\u203f-\u205e"
          r"\u3001-\u3029\u3030-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uff9d")
_MAYBE_HIDDEN = re.compile(rf"[^\x00-\x20\x7f\u3000{_SHOWN}]+")
# The first character that is not ordinary (a blank, or one that may hide): most
# narratives have none, and then need no further care for either.
UNUSUAL_CHARACTER = re.compile(rf"[^{_SHOWN}]")


def _nfkc(value: str) -> str:
    """NFKC form (full-width letters and digits to ASCII), skipping the work for ASCII."""
    return value if value.isascii() else unicodedata.normalize("NFKC", value)


def _differs(masked: str, value: str) -> str:
    """The masked value, lengthened by one * in the rare case it equals its input."""
    return masked if masked != value else masked + MASK


def keep(value: str) -> str:
    """Release the value unchanged (organisations, enumerations, the subject's own view)."""
    return value


def redact(value: str) -> str:
    """Replace the whole value (suppression)."""
    return REDACTED


def mask_keep(value: str, first: int, last: int) -> str:
    """Keep the first and last characters, replace the rest with * (at least one *)."""
    first, last = max(0, first), max(0, last)
    if len(value) <= first + last:
        keep_n = max(0, min(first, len(value) - 1))
        return value[:keep_n] + MASK * max(1, len(value) - keep_n)
    return value[:first] + MASK * (len(value) - first - last) + (value[-last:] if last else "")


# ---------------------------------------------------------------- normalisers


def normalise_name(value: str) -> str:
    """A name's comparable form: NFKC, one kind of dot, no blanks in Chinese names."""
    if _NAME_PLAIN.fullmatch(value):
        return value  # the common case: Chinese characters only, nothing to normalise
    name = _nfkc(value).translate(_DOT_TABLE)
    name = _BLANKS.sub("", name) if _CJK.search(name) else " ".join(name.split())
    parts = [part.strip() for part in name.split(NAME_DOT)]
    return NAME_DOT.join(part for part in parts if part)


def is_hidden(char: str) -> bool:
    """Whether a character does not show (format control, combining mark, Hangul filler)."""
    return (unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _HIDDEN_EXTRA
            or 0xE0000 <= ord(char) <= 0xE0FFF)


def replace_hidden(value: str, by: str = "") -> str:
    """The value with every hidden character replaced by ``by`` (dropped by default)."""
    if _MAYBE_HIDDEN.search(value) is None:
        return value  # the common case: nothing that could hide

    def replace(match: re.Match[str]) -> str:
        return "".join(by if is_hidden(char) else char for char in match.group())
    return _MAYBE_HIDDEN.sub(replace, value)


def visible_form(value: str) -> str:
    """How a text reads: NFKC, accents and every hidden character dropped (NFKD first)."""
    if value.isascii():
        return value
    if _MAYBE_HIDDEN.search(value) is None:
        return unicodedata.normalize("NFKC", value)  # nothing decomposes to a hidden mark
    return unicodedata.normalize("NFKC", replace_hidden(unicodedata.normalize("NFKD", value)))


def normalise_id_number(value: str) -> str:
    """An ID number's comparable form: NFKC digits, no blanks or dashes, upper case."""
    if value.isascii() and value.isalnum():
        return value.upper()
    return _ID_SEPARATORS.sub("", _nfkc(value)).upper()


def normalise_mobile(value: str) -> str:
    """A mobile number's digits without separators and without the +86 / 0086 prefix."""
    digits = _NOT_DIGIT.sub("", _nfkc(value))
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    return digits


def normalise_digits(value: str) -> str:
    """The ASCII digits of a value (a bank card number without its blanks)."""
    return _NOT_DIGIT.sub("", _nfkc(value))


def normalise_text(value: str) -> str:
    """Surrounding blanks stripped."""
    return value.strip()


NORMALISERS: dict[str, Callable[[str], str]] = {
    "person_name": normalise_name,
    "id_number": normalise_id_number,
    "mobile": normalise_mobile,
    "bank_card": normalise_digits,
}


def normaliser(field_type: str) -> Callable[[str], str]:
    """The normaliser applied to a value of a type before it is masked or pseudonymised."""
    return NORMALISERS.get(field_type, normalise_text)


# ---------------------------------------------------------------- type-aware masks


def mask_plain_name(name: str) -> str:
    """Mask a name of Chinese characters only, keeping its (compound) surname."""
    surname = 2 if name[:2] in COMPOUND_SURNAMES else 1
    return name[:surname] + MASK * max(1, len(name) - surname)


def mask_person_name(value: str) -> str:
    """Keep the surname (compound or single); for dotted minority names the first letter."""
    if _NAME_PLAIN.fullmatch(value):
        return mask_plain_name(value)  # never the input: it has no *
    name = normalise_name(value)
    if NAME_DOT in name:
        head = name.split(NAME_DOT, 1)[0]
        return _differs(head[:1] + MASK * max(1, len(head) - 1) + NAME_DOT + MASK * 2, value)
    if name and not _CJK.search(name):
        # Latin names: the initial of each word ("John Smith" -> "J* S*").
        return _differs(" ".join(word[:1] + MASK for word in name.split()), value)
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return _differs(surname + MASK * max(1, len(name) - len(surname)), value)


def mask_id_number(value: str, first: int = 3, last: int = 2) -> str:
    """Keep the first 3 and the last 2 characters of an ID number."""
    return _differs(mask_keep(normalise_id_number(value), first, last), value)


def mask_mobile(value: str, first: int = 3, last: int = 4) -> str:
    """Keep the first 3 and last 4 digits of a mobile number (138****5678)."""
    digits = normalise_mobile(value)
    masked = mask_keep(digits, first, last) if len(digits) >= 8 else MASK * max(1, len(digits))
    return _differs(masked, value)


def mask_bank_card(value: str, first: int = 0, last: int = 4) -> str:
    """Keep only the last 4 digits of a bank card number."""
    digits = normalise_digits(value)
    if len(digits) <= first + last:
        return _differs(MASK * 4, value)
    return _differs(mask_keep(digits, first, last), value)


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
    text = _nfkc(value).strip()
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
    return _differs(prefix + MASK * 3, value)


def generalise_date(value: str) -> str:
    """Generalise a date (1982-04-17, 1982年4月17日, 19820417) to its year."""
    match = _YEAR.match(_nfkc(value))
    if match is None:
        return MASK * 4
    return match.group(1)


def generalise_age(value: str, width: int = 10) -> str:
    """Generalise an age in years to a band such as "30-39"."""
    match = _NUMBER.match(_nfkc(value))
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
        return lambda v: _differs(mask_keep(normalise_name(v), first, last), v)
    return lambda v: _differs(mask_keep(v.strip(), first, last), v)
