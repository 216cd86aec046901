"""Hypothesis strategies: personal numbers, names and addresses written to slip past a check.

Built from the Unicode database, not from the scanner's own tables, so that a test does
not share the blind spots of what it tests:

- every character of the BMP that stands for one digit (any decimal digit script,
  circled, parenthesised, superscript, Hangzhou and Roman numerals, digit dingbats),
  every decimal digit beyond it, and the Chinese numerals in their common, formal, old
  and variant forms;
- separators: any run of characters that are neither letters nor digits (blanks of any
  length, underscores, 、，, punctuation, symbols, emoji, line breaks) and characters
  that do not show (format controls, combining marks);
- the check character X in either case and width, glued or apart;
- names in traditional characters (OpenCC s2t), in Kangxi radicals or compatibility
  ideographs, with blanks or hidden characters inside.
"""

from __future__ import annotations

import sys
import unicodedata
from datetime import date

import opencc
from hypothesis import strategies as st

from gateway.pii.idnumber import make_id_number

S2T = opencc.OpenCC("s2t")

# Chinese numerals: common, formal (大写), old and variant forms, and the ones read out
# in phone numbers (幺 for 1, 两 for 2, ○ for 0).
_CHINESE = {0: "〇零○", 1: "一壹幺弌壱", 2: "二贰貳弍弐两兩", 3: "三叁參参弎叄", 4: "四肆",
            5: "五伍", 6: "六陆陸", 7: "七柒", 8: "八捌", 9: "九玖"}


def _digit_forms() -> dict[int, str]:
    forms: dict[int, list[str]] = {d: list(_CHINESE[d]) for d in range(10)}
    for code in range(0x30, sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Lo":
            continue  # ideographs with a numeric value are listed above, or rare
        if char.isdecimal() or (code < 0x10000 and unicodedata.numeric(char, None) in
                                {float(d) for d in range(10)}):
            forms[int(unicodedata.numeric(char))].append(char)
    return {d: "".join(chars) for d, chars in forms.items()}


DIGIT_FORMS = _digit_forms()
_ALL_DIGITS = frozenset("".join(DIGIT_FORMS.values()))
X_FORMS = ["X", "x", "Ｘ", "ｘ"]
INVISIBLE = st.characters(categories=("Cf", "Mn", "Me"))
# Anything that is neither a letter nor a digit (nor a surrogate or unassigned).
SEPARATOR_CHAR = st.characters(categories=("Zs", "Zl", "Zp", "Pc", "Pd", "Ps", "Pe", "Pi",
                                           "Pf", "Po", "Sm", "Sc", "Sk", "So", "Cc"),
                               exclude_characters="".join(_ALL_DIGITS))
COMMON_SEPARATORS = ["_", "、", "，", ",", "；", " ", " " * 4, " " * 12, "\u3000", "\t\t",
                     "\n", "\n\n", "\r\n", "-", "——", ".", "…", "/", "|", "~", "+", "*",
                     "·", "•", "→", "★", "🙂", "_ _", "、 ", " , "]


def digit_reading(text: str) -> str:
    """The digits a reader sees in a text, in order, as ASCII (X kept)."""
    out = []
    for char in text:
        if char in "Xx":
            out.append("X")
            continue
        for value, chars in DIGIT_FORMS.items():
            if char in chars:
                out.append(str(value))
                break
    return "".join(out)


@st.composite
def gaps(draw: st.DrawFn) -> str:
    """What may stand between two digits: nothing, separators, hidden characters."""
    kind = draw(st.integers(0, 5))
    if kind <= 1:
        return ""
    if kind == 2:
        return draw(st.sampled_from(COMMON_SEPARATORS))
    if kind == 3:
        return "".join(draw(st.lists(SEPARATOR_CHAR, min_size=1, max_size=6)))
    if kind == 4:
        return "".join(draw(st.lists(INVISIBLE, min_size=1, max_size=3)))
    return (draw(st.sampled_from(COMMON_SEPARATORS)) + draw(INVISIBLE)
            + draw(st.sampled_from(COMMON_SEPARATORS)))


@st.composite
def written(draw: st.DrawFn, digits: str) -> str:
    """A number written digit by digit in any digit form, any gap between digits."""
    out = []
    script = draw(st.sampled_from(list(range(10))))  # most numbers keep one form
    mixed = draw(st.booleans())
    for i, char in enumerate(digits):
        if i:
            out.append(draw(gaps()) if draw(st.integers(0, 3)) == 0 else "")
        if char == "X":
            out.append(draw(st.sampled_from(["", " ", "-"])) + draw(st.sampled_from(X_FORMS)))
            continue
        forms = DIGIT_FORMS[int(char)]
        if mixed:
            out.append(draw(st.sampled_from(forms)))
        else:
            out.append(forms[script % len(forms)])
    return "".join(out)


id_numbers = st.builds(
    make_id_number, st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)), st.integers(0, 999))


@st.composite
def old_id_numbers(draw: st.DrawFn) -> str:
    """A 15-digit ID number (address code, YYMMDD, sequence)."""
    number = draw(id_numbers)
    return number[:6] + number[8:17]


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def luhn_complete(body: str) -> str:
    """The body with its Luhn check digit."""
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


cards = st.builds(luhn_complete, st.from_regex(r"6[0-9]{14,17}", fullmatch=True))


@st.composite
def personal_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(kind, digits): an ID number (X in either case), an old ID, a mobile, a card."""
    kind = draw(st.sampled_from(["id", "old_id", "mobile", "card"]))
    number = {"id": id_numbers, "old_id": old_id_numbers(), "mobile": mobiles,
              "card": cards}[kind]
    return kind, draw(number)


# Forms that NFKC makes one ideograph: Kangxi radicals, the radicals supplement and
# compatibility ideographs (⼤ for 大).
IDEOGRAPH_FORMS: dict[str, list[str]] = {}
for _code in (*range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00)):
    _folded = unicodedata.normalize("NFKC", chr(_code))
    if len(_folded) == 1 and _folded != chr(_code):
        IDEOGRAPH_FORMS.setdefault(_folded, []).append(chr(_code))


@st.composite
def disguised_name(draw: st.DrawFn, name: str) -> str:
    """A name in traditional characters, radicals or compatibility forms, with blanks or
    hidden characters between its characters."""
    if draw(st.booleans()):
        name = S2T.convert(name)
    chars = []
    for i, char in enumerate(name):
        if i and draw(st.integers(0, 3)) == 0:
            chars.append(draw(st.one_of(INVISIBLE, st.sampled_from([" ", "\u3000", "\u200b",
                                                                      "\u00ad"]))))
        forms = IDEOGRAPH_FORMS.get(char)
        chars.append(draw(st.sampled_from(forms)) if forms and draw(st.booleans()) else char)
    return "".join(chars)
