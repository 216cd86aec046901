"""The privacy review gate: nothing in a public batch may expose personal data.

Every value of every output record (and every field name) is checked for

- an ID number: 18 characters with a valid check character anywhere in the value, in
  any digits (full-width, other scripts, Chinese numerals) and split by blanks or dashes;
  and any batch subject's ID number, also cut to 17 digits or in its old 15-digit form;
- a mobile number or a Luhn-valid bank card number;
- the full name of any subject in the batch, also split by blanks, dashes, zero-width
  characters or another form of the minority-name dot, or in full-width letters.

A batch that fails gets reasons that name the record, the field and what was found,
never the personal data itself ("record 3 field narrative: contains an ID number").
Records are numbered from 0, in the order given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.disclosure.operators import normalise_id_number, normalise_name
from gateway.disclosure.scanner import (
    BANK_CARD,
    ID_NUMBER,
    MOBILE,
    OLD_ID_NUMBER,
    scan,
)
from gateway.errors import FailedPrecondition

_WHAT = {
    ID_NUMBER: "contains an ID number",
    OLD_ID_NUMBER: "contains an ID number",
    MOBILE: "contains a mobile number",
    BANK_CARD: "contains a bank card number",
}
_SUBJECT_ID = "contains a subject's ID number"
_SUBJECT_NAME = "contains the name of a subject"
_SAFE_FIELD = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# Characters that may be slipped into a name or a number without changing how it reads.
_FILLERS = re.compile(r"[\s\-_‐-―−－·•‧・･∙⋅.．\u0387\u16eb\u2e31\u200b-\u200d\u2060\ufeff"
                      r"\u00ad]+")
_CN_VALUE = dict(zip("〇零一二三四五六七八九", "00123456789", strict=True))
_DIGITISH = re.compile(r"[\d〇零一二三四五六七八九XxＸｘ]")


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
    return _FILLERS.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _digit_key(text: str) -> str:
    """Every digit (any script, Chinese numerals too) and X of a text, in order."""
    found = _DIGITISH.findall(text)
    if len(found) < 15:
        return ""
    digits = "".join(found)
    if not digits.isascii():
        digits = "".join(_CN_VALUE.get(c) or (c if c.isascii() or not c.isdecimal()
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


def _has_name(value: str, index: _NameIndex) -> bool:
    """Whether a value contains a subject's full name, however it was split or written."""
    if index.starts is None:
        return False
    key = _name_key(value)
    by_bigram = index.by_bigram
    for match in index.starts.finditer(key):
        pos = match.start()
        names = by_bigram.get(key[pos:pos + 2])
        if names and any(key.startswith(name, pos) for name in names):
            return True
    return False


def _has_subject_id(value: str, forms: dict[int, set[str]]) -> bool:
    """Whether a value's digits contain a subject's ID number (17 or old 15 digits)."""
    digits = _digit_key(value)
    if not digits:
        return False  # fewer than 15 digits: no ID number fits (most values)
    for size, wanted in forms.items():
        if wanted and any(digits[pos:pos + size] in wanted
                          for pos in range(len(digits) - size + 1)):
            return True
    return False


def _review_value(value: str, names: _NameIndex, id_forms: dict[int, set[str]]
                  ) -> list[str]:
    """What is wrong with one value (reason texts without the data), in a stable order."""
    found = {_WHAT[f.kind] for f in scan(value, old_ids=False)}
    if names and _has_name(value, names):
        found.add(_SUBJECT_NAME)
    if (id_forms[17] or id_forms[15]) and _has_subject_id(value, id_forms):
        found.add(_SUBJECT_ID)
    return sorted(found)


def review_batch(records_out: Sequence[Mapping[str, object]], *,
                 subject_names: Iterable[str], subject_ids: Iterable[str]) -> GateResult:
    """Review a batch about to be published; the result lists reasons without personal data."""
    names = _name_index(subject_names)
    id_forms = _subject_id_forms(subject_ids)
    reasons: list[str] = []
    checked = 0
    for index, record in enumerate(records_out):
        if not isinstance(record, Mapping):
            reasons.append(f"record {index}: is not a mapping of fields")
            continue
        for position, (field, value) in enumerate(record.items()):
            label = field if isinstance(field, str) and _SAFE_FIELD.fullmatch(field) \
                else f"#{position}"
            if label != field:
                for why in _review_value(str(field), names, id_forms):
                    reasons.append(f"record {index} field {label} name: {why}")
            if value is None:
                continue
            checked += 1
            text = value if isinstance(value, str) else str(value)
            for why in _review_value(text, names, id_forms):
                reasons.append(f"record {index} field {label}: {why}")
    return GateResult(passed=not reasons, reasons=tuple(reasons), values_checked=checked)
