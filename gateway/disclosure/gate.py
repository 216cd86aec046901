"""The privacy review gate: nothing in a public batch may expose personal data.

Every value of every output record, and every field name, is checked for

- an ID number: 18 characters with a valid check character (or 17 digits with a
  province digit and a birth date) anywhere in the value, in any digits (full-width,
  other scripts, Chinese numerals, digit symbols) and split by blanks, dashes, slashes
  or a line break; and any batch subject's ID number, also cut to 17 digits or in its
  old 15-digit form, however its digits are spread over the value;
- a mobile number or a Luhn-valid bank card number;
- the full name of any subject in the batch, also split by blanks, dashes, characters
  that do not show (zero-width, bidi controls, combining marks) or another form of the
  minority-name dot, or in full-width letters.

Numbers are looked for twice: in the value as given, as the scanner masks it, and in
its visible form (NFKC, hidden characters dropped), so that the gate does not share
every blind spot of the scanner it checks.

A batch that fails gets reasons that name the record, the field and what was found,
never the personal data itself ("record 3 field narrative: contains an ID number");
a field whose name holds a finding is named by its position ("field #2").
Records are numbered from 0, in the order given.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import FailedPrecondition
from gateway.pii.normalise import normalise_id_number, normalise_name, visible_form
from gateway.pii.recognise import fold_script, has_fine_address, has_named_relative
from gateway.pii.scanner import (
    ADDRESS,
    BANK_CARD,
    ID_NUMBER,
    MOBILE,
    NUMERALS,
    OLD_ID_NUMBER,
    RELATIVE,
    join_digit_runs,
    scan,
)

_WHAT = {
    ID_NUMBER: "contains an ID number",
    OLD_ID_NUMBER: "contains an ID number",
    MOBILE: "contains a mobile number",
    BANK_CARD: "contains a bank card number",
}
_SUBJECT_ID = "contains a subject's ID number"
_SUBJECT_NAME = "contains the name of a subject"
_FINE_ADDRESS = "contains an address finer than the district"
_RELATIVE = "names a relative or another party (held for review)"
_WHAT[ADDRESS] = _FINE_ADDRESS
_WHAT[RELATIVE] = _RELATIVE
_SAFE_FIELD = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A markup tag (or comment) as a browser drops it from what it shows.
_MARKUP = re.compile(r"<!--.*?(?:-->|$)|</?[A-Za-z!?/][^<>]*>?", re.DOTALL)
# Characters that may be slipped into a name or a number without changing how it reads
# (those that do not show at all are dropped by ``visible_form`` before; NFKC turns the
# Hangul araea U+318D into U+119E).
_FILLERS = re.compile(r"[\s\-_‐-―−－·•‧・･∙⋅.．\u0387\u16eb\u2e31\ua78f\u318d\u119e\u2e30\u02d1"
                      r"\u200b-\u200d\u2060\ufeff\u00ad]+")
# Digit forms other than Unicode decimal digits (NUMERALS: Chinese numerals, ○ 幺 壹, ① ¹).
_DIGITISH = re.compile(f"[\\d{''.join(NUMERALS)}XxＸｘ]")
_MIN_NUMBER = 11  # the fewest digits of anything the scanner finds (a mobile number)
# Text of these characters only (ASCII, CJK, their punctuation, full-width ASCII) reads
# to the scanner as its visible form does: NFKC changes nothing in it, or changes a
# full-width character into its ASCII form, which the scanner takes alike. Such a value
# needs no second scan.
_SCANNED_ALIKE = re.compile(r"[\x20-\x7e\u00b7\u2010-\u2016\u2018-\u2023\u2027\u2030-\u203d"
                            r"\u203f-\u205e\u3000-\u3029\u3030-\u303f\u3400-\u4dbf"
                            r"\u4e00-\u9fff\uff01-\uff5e]*+")


class PrivacyReviewFailed(FailedPrecondition):
    """A batch failed the privacy review; the reasons carry no personal data."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(f"privacy review failed: {len(reasons)} finding(s)",
                         reason="privacy_review_failed", detail="\n".join(reasons))
        self.reasons = tuple(reasons)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of a privacy review: passed, or the reasons (without personal data)."""

    passed: bool
    reasons: tuple[str, ...]
    values_checked: int

    def raise_for_failure(self) -> None:
        """Raise PrivacyReviewFailed with the reasons when the batch failed."""
        if not self.passed:
            raise PrivacyReviewFailed(self.reasons)


def _name_key(text: str) -> str:
    """A form of a text in which a name reads the same however it was split or written."""
    return _visible_key(fold_script(visible_form(text)))


def _visible_key(visible: str) -> str:
    """``_name_key`` of a text already in its visible, script-folded form."""
    return _FILLERS.sub("", visible).casefold()


def _digit_key(digitish: list[str]) -> str:
    """The digits (any script, Chinese numerals too) and X found in a text, in order."""
    digits = "".join(digitish)
    if not digits.isascii():
        digits = "".join(NUMERALS.get(c) or (c if c.isascii() or not c.isdecimal()
                                               else str(unicodedata.decimal(c)))
                         for c in digits)
    return digits.upper().replace("Ｘ", "X").replace("ｘ", "X")


def _subject_id_forms(subject_ids: Iterable[str]) -> dict[int, set[str]]:
    """The digits that give a subject's ID away (the first 17, the old 15), by length."""
    forms: dict[int, set[str]] = {17: set(), 15: set()}
    for raw in subject_ids:
        value = normalise_id_number(str(raw))
        if len(value) == 18 and value[:17].isdigit():
            forms[17].add(value[:17])
            forms[15].add(value[:6] + value[8:17])
        elif len(value) == 15 and value.isdigit():
            forms[15].add(value)
    return forms


@dataclass(frozen=True, slots=True)
class _NameIndex:
    """The subjects' name keys by their first two characters, and where a name may start."""

    by_bigram: dict[str, set[str]]
    # A character class of every name key's first character: re finds the few places
    # where a name may start in C, instead of a Python loop over every position.
    starts: re.Pattern[str] | None

    def __bool__(self) -> bool:
        return bool(self.by_bigram)


def _name_index(subject_names: Iterable[str]) -> _NameIndex:
    """The subjects' name keys, indexed for ``_has_name``."""
    index: dict[str, set[str]] = {}
    for name in subject_names:
        key = _name_key(normalise_name(str(name)))
        if len(key) >= 2:
            index.setdefault(key[:2], set()).add(key)
    firsts = sorted({bigram[0] for bigram in index})
    starts = re.compile(f"[{''.join(map(re.escape, firsts))}]") if firsts else None
    return _NameIndex(by_bigram=index, starts=starts)


def _has_name(key: str, index: _NameIndex) -> bool:
    """Whether a value's name key contains a subject's full name."""
    if index.starts is None:
        return False
    by_bigram = index.by_bigram
    for match in index.starts.finditer(key):
        pos = match.start()
        names = by_bigram.get(key[pos:pos + 2])
        if names and any(key.startswith(name, pos) for name in names):
            return True
    return False


def _has_subject_id(digits: str, forms: dict[int, set[str]]) -> bool:
    """Whether a value's digits contain a subject's ID number (17 or old 15 digits)."""
    for size, wanted in forms.items():
        if wanted and any(digits[pos:pos + size] in wanted
                          for pos in range(len(digits) - size + 1)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Subjects:
    """The names and ID numbers a review looks for, indexed once (for a whole feed run)."""

    names: _NameIndex
    id_forms: dict[int, set[str]]


def subjects_of(subject_names: Iterable[str], subject_ids: Iterable[str]) -> Subjects:
    """Index subjects' names and ID numbers for ``review_batch(..., run=...)``."""
    return Subjects(_name_index(subject_names), _subject_id_forms(subject_ids))


def rendered_form(value: str) -> str:
    """How a web page shows a value: markup tags dropped, character references decoded
    (``1<b>3</b>8``, ``138&nbsp;1234``, ``&#49;&#51;&#56;``); unchanged when it has none."""
    if "<" not in value and "&" not in value:
        return value
    text = value
    # Decoded until nothing changes: &amp;#49; shows as &#49; on one page and 1 on the next.
    for _ in range(4):
        shown = html.unescape(_MARKUP.sub("", text))
        if shown == text:
            break
        text = shown
    return text


def _review_value(value: str, subjects: Sequence[Subjects]) -> list[str]:
    """What is wrong with one value (reason texts without the data), in a stable order."""
    rendered = rendered_form(value)
    if rendered != value:
        # The website may show the value as HTML: what it would show is reviewed too.
        return sorted(set(_review_shown(value, subjects)) | set(_review_shown(rendered,
                                                                              subjects)))
    return _review_shown(value, subjects)


def _review_shown(value: str, subjects: Sequence[Subjects]) -> list[str]:
    """``_review_value`` of one form of a value."""
    found = {_WHAT[f.kind] for f in scan(value, old_ids=True)}
    visible = visible_form(value)
    digitish = _DIGITISH.findall(visible)
    if len(digitish) >= _MIN_NUMBER:
        # The visible form again, every separator run between two digits made one
        # blank, so that a number written to slip past the scanner (compatibility
        # forms, hidden characters, underscores, 、，, long runs of blanks) is caught.
        joined = join_digit_runs(visible)
        if joined != visible or (visible != value
                                 and _SCANNED_ALIKE.fullmatch(value) is None):
            found.update(_WHAT[f.kind] for f in scan(joined, old_ids=True))
    folded = fold_script(visible)
    if folded != value:
        # The scan above read the value as given (folded character by character):
        # addresses and relatives again in the visible, fully folded form.
        if has_fine_address(folded):
            found.add(_FINE_ADDRESS)
        if has_named_relative(folded):
            found.add(_RELATIVE)
    key = _visible_key(folded)
    digits = _digit_key(digitish) if len(digitish) >= 15 else ""
    for known in subjects:
        if known.names and _has_name(key, known.names):
            found.add(_SUBJECT_NAME)
        forms = known.id_forms
        if digits and (forms[17] or forms[15]) and _has_subject_id(digits, forms):
            found.add(_SUBJECT_ID)
    return sorted(found)


def review_batch(records_out: Sequence[Mapping[str, object]], *,
                 subject_names: Iterable[str], subject_ids: Iterable[str],
                 run: Subjects | None = None) -> GateResult:
    """Review a batch about to be published; the result lists reasons without personal data.

    ``run`` adds the subjects of everything else published in the same run, so that a
    record naming the subject of another batch is caught whatever the batch size.
    """
    subjects = [subjects_of(subject_names, subject_ids), *([run] if run is not None else [])]
    reasons: list[str] = []
    checked = 0
    # Field names repeat from record to record: each is reviewed once per batch.
    field_reviews: dict[str, list[str]] = {}
    for index, record in enumerate(records_out):
        if not isinstance(record, Mapping):
            reasons.append(f"record {index}: is not a mapping of fields")
            continue
        for position, (field, value) in enumerate(record.items()):
            name = field if isinstance(field, str) else str(field)
            field_why = field_reviews.get(name)
            if field_why is None:
                field_why = field_reviews[name] = _review_value(name, subjects)
            # A field name is quoted only when it is a plain code that gives nothing away.
            label = name if (not field_why and isinstance(field, str)
                             and _SAFE_FIELD.fullmatch(name)) else f"#{position}"
            for why in field_why:
                reasons.append(f"record {index} field {label} name: {why}")
            if value is None:
                continue
            checked += 1
            text = value if isinstance(value, str) else str(value)
            for why in _review_value(text, subjects):
                reasons.append(f"record {index} field {label}: {why}")
    return GateResult(passed=not reasons, reasons=tuple(reasons), values_checked=checked)
