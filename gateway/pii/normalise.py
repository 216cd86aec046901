"""Normalisers of personal data: the comparable form of a name, an ID number, a number.

Text is compared and masked in one form: NFKC (full-width letters and digits to ASCII),
one kind of name dot, no blanks inside a Chinese name, no separators in a number, and
none of the characters that do not show (format controls, combining marks), which could
otherwise hide inside a name or a number and slip past a scanner.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

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
PLAIN_CHINESE_NAME = re.compile("[\u4e00-\u9fff]{1,16}")
CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_BLANKS = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_ID_SEPARATORS = re.compile(r"[\s\-]+")
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


def nfkc(value: str) -> str:
    """NFKC form (full-width letters and digits to ASCII), skipping the work for ASCII."""
    return value if value.isascii() else unicodedata.normalize("NFKC", value)


def normalise_name(value: str) -> str:
    """A name's comparable form: NFKC, one kind of dot, no blanks in Chinese names."""
    if PLAIN_CHINESE_NAME.fullmatch(value):
        return value  # the common case: Chinese characters only, nothing to normalise
    name = nfkc(value).translate(_DOT_TABLE)
    name = _BLANKS.sub("", name) if CJK.search(name) else " ".join(name.split())
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
    return _ID_SEPARATORS.sub("", nfkc(value)).upper()


def normalise_mobile(value: str) -> str:
    """A mobile number's digits without separators and without the +86 / 0086 prefix."""
    digits = _NOT_DIGIT.sub("", nfkc(value))
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    return digits


def normalise_digits(value: str) -> str:
    """The ASCII digits of a value (a bank card number without its blanks)."""
    return _NOT_DIGIT.sub("", nfkc(value))


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
