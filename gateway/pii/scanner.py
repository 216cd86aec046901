"""Free-text scanner: personal data inside narratives (典型案例), found and masked.

It finds, in any text:

- ID numbers (GB 11643-1999): 18 characters with a valid MOD 11-2 check character, a
  possible birth date and a province digit 1-8; optionally old 15-digit IDs (6-digit
  address code, YYMMDD, 3-digit sequence; no check digit);
- mobile numbers: 11 digits 1[3-9]..., with or without +86 / 0086;
- bank card numbers: 16-19 digits with a valid Luhn check digit;
- the names of the subjects in the batch: the full name, and the given name (or each
  part of a dotted minority name) when it has at least two characters, also written in
  traditional characters (folded with OpenCC, ``gateway.pii.recognise``);
- an address finer than the district (street and door number, building, unit, room,
  village group), masked whole after the district: 西湖区***;
- a name next to a kinship or role word (其妻王丽华, 担保人李明, 李明（担保人）): surname
  kept, 王**.

Digits may be full-width or any other Unicode decimal digits, Chinese numerals
(〇一二..., ○ for 〇, 幺 for 一, the formal 壹贰叁..., old and variant forms 弌弍弎 两
参), circled, parenthesised, superscript or other digit symbols of the BMP (①⑴¹➊, the
Hangzhou numerals 〡〢〣, Roman numerals Ⅰ-Ⅸ, ㊀㈠), and split by any run of characters
that are neither letters nor digits ("138 1234 5678", "138_1234_5678", "138、1234、5678",
"138          1234 5678", line breaks, symbols); characters that do not show (soft
hyphens, zero-width and bidi controls, combining marks) are ignored inside numbers
and names. The check character X may stand apart ("...006 X", "...006（X）"), and 17
digits with a province digit and a birth date are taken for an ID number without it.
Names may be split by blanks and written with any form of the minority-name dot or in
full-width letters.
A finding holds its kind and span, never the value it found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from gateway.pii.idnumber import check_character
from gateway.pii.masks import MASK, mask_bank_card, mask_keep, mask_person_name, mask_plain_name
from gateway.pii.normalise import (
    COMPOUND_SURNAMES,
    NAME_DOT,
    NAME_DOTS,
    UNUSUAL_CHARACTER,
    normalise_name,
    replace_hidden,
)
from gateway.pii.recognise import (
    fine_address_spans,
    fold_characters,
    relative_name_spans,
)

ID_NUMBER = "id_number"
OLD_ID_NUMBER = "old_id_number"
MOBILE = "mobile"
BANK_CARD = "bank_card"
NAME = "name"
ADDRESS = "address"
RELATIVE = "relative_name"
_PRIORITY = {ID_NUMBER: 0, MOBILE: 1, BANK_CARD: 2, OLD_ID_NUMBER: 3, NAME: 4, ADDRESS: 5,
             RELATIVE: 6}
_NAME_PRIORITY = _PRIORITY[NAME]

# Characters that do not show are read as this one (one for one, so positions hold);
# it is neither a digit nor a separator, and a blank inside a name.
_HIDDEN = "\u200b"
_SEP = ("[ \t\u00a0\u3000\u2000-\u200a\u202f\u205f\\-\u2010-\u2015\u2212\ufe63\uff0d"
        ".\uff0e\u00b7/\uff0f]")
# At most one line break between two groups (a number wrapped at the end of a line).
_LINE_BREAK = "(?:\r\n?|[\n\x0b\x0c\x85\u2028\u2029])"
_X_CHARS = "Xx\uff38\uff58"
# Digit forms besides Unicode decimal digits, with their value and their script: Chinese
# numerals (1) and digit symbols (2). A change of script splits a group, so a numeral in
# a name (张三) or a list mark (①) glued to a number does not become one of its digits.
_CN_NUMERALS = {"〇": 0, "零": 0, "○": 0, "一": 1, "幺": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2,
                "三": 3, "叁": 3, "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6,
                "陸": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
# Variant and old forms of the Chinese numerals (弌弍弎, 壱弐, 两兩, 参叄, 亖, 仨, and the
# compatibility ideographs of 零六陸參兩): each stands for one digit as well.
_CN_NUMERALS.update({"弌": 1, "壱": 1, "弍": 2, "弐": 2, "貮": 2, "两": 2, "兩": 2, "\uf978": 2,
                     "弎": 3, "参": 3, "叄": 3, "仨": 3, "\uf96b": 3, "亖": 4, "\uf9b2": 0,
                     "\uf9d1": 6, "\uf9d3": 6})
_DIGIT_FORMS: dict[str, tuple[str, int]] = {str(d): (str(d), 0) for d in range(10)}
_DIGIT_FORMS.update({chr(0xFF10 + d): (str(d), 0) for d in range(10)})  # full-width
_DIGIT_FORMS.update({c: (str(v), 1) for c, v in _CN_NUMERALS.items()})
# Every other character of the BMP that stands for one digit is a digit symbol: circled,
# parenthesised, superscript and dingbat digits (①⑴¹➊), the Hangzhou (Suzhou) numerals
# 〡〢〣, Roman numerals Ⅰ-Ⅸ, circled and annotation ideographs (㊀㈠㆒), Ethiopic and
# Khmer digit signs... (all in the BMP: a character class with one beyond it makes re's
# search a third slower; the decimal digits beyond it are read through \d.)
for _code in range(0x80, 0x10000):
    _char = chr(_code)
    _value = unicodedata.numeric(_char, None)
    if (_value is None or _char in _DIGIT_FORMS or _char.isdecimal() or _value != int(_value)
            or not 0 <= _value <= 9 or unicodedata.category(_char) == "Lo"):
        continue
    _DIGIT_FORMS[_char] = (str(int(_value)), 2)
# Every digit form that is not a Unicode decimal digit, as its ASCII digit.
NUMERALS: dict[str, str] = {c: v for c, (v, script) in _DIGIT_FORMS.items() if script}
_EXTRA_DIGITS = "".join(NUMERALS)
_X = ("X", -1)  # the check character: it takes the script of the digits before it
_OPENING, _CLOSING = "(（[［【", ")）]］】"
# A run of digits (any form), with any separators between groups (any run of
# characters that are neither letters nor digits: blanks of any length, underscores,
# 、，, dashes, dots, slashes, line breaks, symbols), and a check character X that may
# stand apart or in brackets; possessive, so the regex never backtracks into a run. The
# leading lookahead lets re skip to the next digit in C (a quarter faster on
# narratives); the one after the first digits lets most runs (一, 2026年) end after one
# test instead of trying each way a run could go on.
_DIGIT = f"[\\d{_EXTRA_DIGITS}]"
_DIGITS = f"[\\d{_EXTRA_DIGITS}{_HIDDEN}]++"
# (Not possessive: ○, read as 〇, is a symbol, not a word character, and a gap that
# took it would leave no digit after it. A gap gives back at most its own length.)
_GAP = "[\\W_]+"
_GOES_ON = f"[\\W_{_X_CHARS}]"
_RUN = re.compile(rf"(?={_DIGIT}){_DIGITS}(?:(?={_GOES_ON})(?:{_GAP}{_DIGITS})*+"
                  rf"(?:{_SEP}{{0,3}}+[{re.escape(_OPENING)}]?+{_SEP}{{0,2}}+[{_X_CHARS}])?)?")
_MIN_RUN = 11
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Blanks allowed inside a name: every white space, and what a hidden character reads as.
_SPACES = frozenset(" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u2000\u2001\u2002"
                    "\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
                    "\u205f\u3000" + _HIDDEN)
_BLANK = re.compile(f"[{''.join(sorted(_SPACES))}]")
_PLAIN_CJK = re.compile("[\u4e00-\u9fff]+")
# Characters compared loosely in names: ASCII and full-width letters by their lower case,
# every dot form as the middle dot.
_FOLD: dict[str, str] = {dot: NAME_DOT for dot in NAME_DOTS}
for _i in range(26):
    _FOLD[chr(0x41 + _i)] = _FOLD[chr(0xFF21 + _i)] = _FOLD[chr(0xFF41 + _i)] = chr(0x61 + _i)
# A found item inside the scanner: (start, end, priority, kind, replacement).
_Hit = tuple[int, int, int, str, str]


@dataclass(frozen=True, slots=True)
class Finding:
    """Personal data found in a text: its kind and span (its repr never shows the value)."""

    kind: str
    start: int
    end: int
    replacement: str = field(repr=False)


# ---------------------------------------------------------------- numbers


def _possible_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1 or day > _DAYS[month - 1]:
        return False
    return not (month == 2 and day == 29 and (year % 4 or (year % 100 == 0 and year % 400)))


def is_id_number(digits: str) -> bool:
    """An 18-character ID number: province digit, possible birth date, MOD 11-2 check."""
    body = digits[:17]
    if len(digits) != 18 or digits[0] not in "12345678" or not (body.isascii() and
                                                                 body.isdigit()):
        return False
    year = int(digits[6:10])
    if not 1900 <= year <= 2099 or not _possible_date(year, int(digits[10:12]),
                                                        int(digits[12:14])):
        return False
    return digits[17] == check_character(body)


def is_id_body(digits: str) -> bool:
    """17 digits that start an ID number: province digit 1-8 and a possible birth date."""
    if len(digits) != 17 or digits[0] not in "12345678" or not (digits.isascii() and
                                                                digits.isdigit()):
        return False
    year = int(digits[6:10])
    return 1900 <= year <= 2099 and _possible_date(year, int(digits[10:12]),
                                                   int(digits[12:14]))


def is_old_id_number(digits: str) -> bool:
    """A 15-digit ID number of the 1980s-1990s: address code, YYMMDD, sequence."""
    return (len(digits) == 15 and digits.isascii() and digits.isdigit() and digits[0] in "12345678"
            and _possible_date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12])))


def luhn_valid(digits: str) -> bool:
    """The Luhn (ISO/IEC 7812-1 annex B) check of a card number."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _classify(digits: str, old_ids: bool) -> tuple[str, str] | None:
    """The kind and masked form of a whole digit string, or None."""
    n = len(digits)
    if n == 18 and is_id_number(digits):
        return ID_NUMBER, mask_keep(digits, 3, 2)
    if not digits.isdigit():
        return None
    if n in (11, 12, 13, 15):
        # With the country code, or the trunk 0 dialled before a mobile from a landline.
        mobile = digits[n - 11:]
        if digits[: n - 11] in ("", "0", "86", "0086") and mobile[0] == "1" and (
                mobile[1] in "3456789"):
            return MOBILE, mask_keep(mobile, 3, 4)
    if n == 17 and is_id_body(digits):
        # The check character is only a check: the first 17 digits name the person.
        return ID_NUMBER, mask_keep(digits, 3, 2)
    if 16 <= n <= 19 and digits[0] != "0" and luhn_valid(digits):
        return BANK_CARD, mask_bank_card(digits)
    if old_ids and n == 15 and is_old_id_number(digits):
        return OLD_ID_NUMBER, mask_keep(digits, 3, 2)
    return None


def _groups(text: str, start: int, end: int) -> list[tuple[str, list[int]]]:
    """The digit groups of a run, with each digit's position.

    Separators split groups, and so does a change of script between Chinese numerals,
    digit symbols and digits (张三13812345678: the 三 is a group of its own). Hidden
    characters are skipped.
    """
    run = text[start:end]
    if run.isascii() and run.isdigit():
        return [(run, list(range(start, end)))]  # the common case: one group of digits
    groups: list[tuple[str, list[int]]] = []
    digits: list[str] = []
    positions: list[int] = []
    script = -1
    forms = _DIGIT_FORMS
    for pos in range(start, end):
        char = text[pos]
        form = forms.get(char)
        if form is None:
            if char == _HIDDEN:
                continue
            if char in _X_CHARS:
                form = _X
            elif char.isdecimal():
                form = (str(unicodedata.decimal(char)), 0)
        if form is None or (digits and form[1] != script and form is not _X):
            if digits:
                groups.append(("".join(digits), positions))
                digits, positions = [], []
            if form is None:
                continue
        digits.append(form[0])
        positions.append(pos)
        if form is not _X:
            script = form[1]
    if digits:
        groups.append(("".join(digits), positions))
    return groups


def _closing_bracket(text: str, spots: list[int]) -> int:
    """1 when an ID number's X stands in brackets, "...006（X）", so the span takes both."""
    x_at = spots[-1]
    if x_at + 1 < len(text) and text[x_at + 1] in _CLOSING and any(
            char in _OPENING for char in text[spots[-2] + 1:x_at]):
        return 1
    return 0


def _run_hits(text: str, start: int, end: int, old_ids: bool) -> list[_Hit]:
    """Every number in a run: any sequence of its groups, and ID numbers inside a group."""
    found: list[_Hit] = []
    groups = _groups(text, start, end)
    plus = start > 0 and text[start - 1] == "+"
    for i in range(len(groups)):
        digits = ""
        positions: list[int] = []
        for j in range(i, len(groups)):
            digits += groups[j][0]
            positions = positions + groups[j][1]
            if len(digits) > 19 + 4:
                break
            if len(digits) < _MIN_RUN:
                continue
            candidate, spots = digits, positions
            if digits.endswith("X") and len(digits) != 18:
                candidate, spots = digits[:-1], positions[:-1]
            kind = _classify(candidate, old_ids)
            if kind is not None:
                first = spots[0] - 1 if plus and i == 0 and kind[0] == MOBILE else spots[0]
                last = spots[-1] + 1
                if candidate[-1] == "X" and spots[-1] - spots[-2] > 1:
                    last += _closing_bracket(text, spots)
                found.append((first, last, _PRIORITY[kind[0]], kind[0], kind[1]))
        group, spots = groups[i]
        for k in range(len(group) - 17 if len(group) > 18 else 0):
            window = group[k:k + 18]
            if is_id_number(window):
                found.append((spots[k], spots[k + 17] + 1, _PRIORITY[ID_NUMBER], ID_NUMBER,
                              mask_keep(window, 3, 2)))
    return found


# ---------------------------------------------------------------- names


def _needles(name: str, given_names: bool) -> list[tuple[str, str, bool, int, bool]]:
    """What to look for for one name: (folded needle, replacement, is Latin, offset, full).

    The first needle is the full name (``full`` true); the others (given name, parts of
    a dotted name) lie at ``offset`` inside it.
    """
    if _PLAIN_CJK.fullmatch(name):
        # The common case: Chinese characters only, nothing to normalise or fold.
        if len(name) < 2:
            return []
        needles = [(name, mask_plain_name(name), False, 0, True)]
        surname = 2 if name[:2] in COMPOUND_SURNAMES else 1
        if given_names and len(name) - surname >= 2:
            needles.append((name[surname:], MASK * (len(name) - surname), False, surname,
                            False))
        return needles
    canonical = normalise_name(replace_hidden(name))
    folded = "".join(_FOLD.get(char, char) for char in canonical if char not in _SPACES)
    if len(folded) < 2:
        return []
    latin = folded.isascii()
    needles = [(folded, mask_person_name(canonical), latin, 0, True)]
    if latin or not given_names:
        return needles
    if NAME_DOT in folded:
        offset = 0
        for k, part in enumerate(folded.split(NAME_DOT)):
            if len(part) >= 2:
                mask = (part[:1] if k == 0 else MASK) + MASK * (len(part) - 1)
                needles.append((part, mask, False, offset, False))
            offset += len(part) + 1
    else:
        family = 2 if folded[:2] in COMPOUND_SURNAMES else 1
        given = folded[family:]
        if len(given) >= 2:
            needles.append((given, MASK * len(given), False, family, False))
    return needles


def _match_at(text: str, pos: int, needle: str) -> int:
    """The end of a match of a folded needle at pos (blanks allowed inside), or -1."""
    size = len(text)
    for k, want in enumerate(needle):
        if k:
            while pos < size and text[pos] in _SPACES:
                pos += 1
        if pos >= size:
            return -1
        char = text[pos]
        if char != want and _FOLD.get(char) != want:
            return -1
        pos += 1
    return pos


def _first_chars(char: str) -> tuple[str, ...]:
    """Every character that folds to a needle's first character."""
    return (char, *(k for k, v in _FOLD.items() if v == char)) if char.isascii() else (char,)


def _inside_word(text: str, start: int, end: int) -> bool:
    """Whether a Latin match continues a word on either side (Li Na inside Carolina)."""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return (before.isalpha() and before.isascii()) or (after.isalpha() and after.isascii())


def _name_hits(text: str, names: Iterable[str], given_names: bool, blanks: bool
               ) -> list[_Hit]:
    """Where the names are, as hits; ``blanks`` tells whether the text has any blank."""
    found: list[_Hit] = []
    for name in names:
        if not isinstance(name, str):
            continue
        full: set[int] = set()  # where the full name was found literally
        for needle, replacement, latin, offset, is_full in _needles(name, given_names):
            if not latin and NAME_DOT not in needle:
                # Chinese characters match only themselves: a literal search (skipping
                # given names inside a full name found), and a blank-tolerant walk only
                # when the text has blanks at all. Only the full name is recorded: the
                # first part of a dotted name also lies at offset 0.
                size = len(needle)
                pos = text.find(needle)
                while pos >= 0:
                    if is_full:
                        full.add(pos)
                        found.append((pos, pos + size, _NAME_PRIORITY, NAME, replacement))
                    elif pos - offset not in full:
                        found.append((pos, pos + size, _NAME_PRIORITY, NAME, replacement))
                    pos = text.find(needle, pos + size)
                if not blanks:
                    continue
            for first in _first_chars(needle[0]):
                pos = text.find(first)
                while pos >= 0:
                    end = _match_at(text, pos, needle)
                    if end > 0 and pos - offset not in full and not (
                            latin and _inside_word(text, pos, end)):
                        found.append((pos, end, _NAME_PRIORITY, NAME, replacement))
                    pos = text.find(first, pos + 1)
    return found


# ---------------------------------------------------------------- places and relatives

# Characters one of which an address finer than the district or a kinship/role word
# needs (traditional forms too): most texts hold none and skip both searches.
_PLACE_OR_PERSON = re.compile("[号號弄栋棟幢室户戶元村组組镇鎮乡鄉街人妻夫父母子女兄弟姐妹"
                              "偶婆公友属屬伙夥告婿孙孫甥侄舅叔伯姑姨楼樓层層座路巷衚胡]")
_PLACE_MASK = MASK * 3


@lru_cache(maxsize=4096)
def _folded_name(name: str) -> str:
    """A subject's name with traditional characters folded (cached: names repeat)."""
    return fold_characters(name)


def _place_and_relative_hits(text: str, folded: str) -> list[_Hit]:
    """Addresses below the district (masked whole) and names after kinship or role words
    (surname kept), found in the text folded to simplified characters one for one."""
    found: list[_Hit] = [(start, end, _PRIORITY[ADDRESS], ADDRESS, _PLACE_MASK)
                         for start, end in fine_address_spans(folded)]
    found += [(start, end, _PRIORITY[RELATIVE], RELATIVE,
               text[start:start + surname] + MASK * (end - start - surname))
              for start, end, surname in relative_name_spans(folded)]
    return found


# Between two digits: any run of characters that are neither letters nor digits.
_BETWEEN_DIGITS = re.compile(rf"(?<=[\dXxＸｘ{_EXTRA_DIGITS}])[\W_]+"
                             rf"(?=[\dXxＸｘ{_EXTRA_DIGITS}])")


_USUAL_GAP = re.compile(f"{_SEP}{{1,3}}")


def _one_blank(match: re.Match[str]) -> str:
    gap = match.group()
    return gap if _USUAL_GAP.fullmatch(gap) is not None else " "


def join_digit_runs(visible: str) -> str:
    """The text with every run of separators between two digits that the scanner would
    not bridge made one blank: blanks of any length, underscores, 、，, long runs of
    dashes or dots, line breaks (hidden characters are dropped from a visible form
    before), so every way of splitting a number reads alike. Unchanged when none."""
    return _BETWEEN_DIGITS.sub(_one_blank, visible)


# ---------------------------------------------------------------- scan and mask


def _hits(text: str, names: Iterable[str], old_ids: bool, given_names: bool) -> list[_Hit]:
    """Non-overlapping hits in text order: at each start the longest; overlaps are merged."""
    blanks = False
    if UNUSUAL_CHARACTER.search(text) is not None:
        # Hidden characters read as a zero-width space, one for one: spans stay those of
        # the text given. (Ordinary text has neither blanks nor hidden characters.)
        text = replace_hidden(text, _HIDDEN)
        blanks = _BLANK.search(text) is not None
    found: list[_Hit] = []
    for match in _RUN.finditer(text):
        if match.end() - match.start() >= _MIN_RUN:
            found += _run_hits(text, match.start(), match.end(), old_ids)
    # Traditional characters folded to simplified, one for one (positions hold): 張偉
    # in a narrative is 张伟's name, 號 a door number's 号.
    folded = fold_characters(text)
    if names:
        found += _name_hits(folded, [_folded_name(n) for n in names if isinstance(n, str)],
                            given_names, blanks)
    if _PLACE_OR_PERSON.search(folded) is not None:
        found += _place_and_relative_hits(text, folded)
    if len(found) < 2:
        return found
    found.sort(key=lambda hit: (hit[0], hit[0] - hit[1], hit[2]))
    chosen = [found[0]]
    for hit in found[1:]:
        last = chosen[-1]
        if hit[0] >= last[1]:
            chosen.append(hit)
        elif hit[1] > last[1]:
            # Overlapping and sticking out (a card number whose last digits start an ID
            # number): mask both spans, reported as the more telling kind.
            first = last if last[2] <= hit[2] else hit
            chosen[-1] = (last[0], hit[1], first[2], first[3],
                          last[4] + MASK * (hit[1] - last[1]))
    return chosen


def scan(text: str, *, names: Iterable[str] = (), old_ids: bool = True,
         given_names: bool = True) -> list[Finding]:
    """Personal data in a text, as non-overlapping findings in text order; never raises."""
    if not isinstance(text, str):
        text = str(text)
    return [Finding(kind, start, end, replacement)
            for start, end, _p, kind, replacement in _hits(text, names, old_ids, given_names)]


def mask_free_text(text: str, *, names: Iterable[str] = (), old_ids: bool = True) -> str:
    """The text with every finding of ``scan`` replaced by its mask; never raises."""
    if not isinstance(text, str):
        text = str(text)
    hits = _hits(text, names, old_ids, True)
    if not hits:
        return text
    pieces: list[str] = []
    pos = 0
    for start, end, _priority, _kind, replacement in hits:
        pieces += (text[pos:start], replacement)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
