"""Masks of personal-data types: keep a name's surname, an ID number's ends, a card's last four.

Each masker normalises its value first (gateway.pii.normalise) and never returns its input
unchanged, so a value that happens to look masked still differs from what was given.
"""

from __future__ import annotations

from gateway.pii.normalise import (
    CJK,
    COMPOUND_SURNAMES,
    NAME_DOT,
    PLAIN_CHINESE_NAME,
    normalise_digits,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
)

MASK = "*"


def never_unchanged(masked: str, value: str) -> str:
    """The masked value, lengthened by one * in the rare case it equals its input."""
    return masked if masked != value else masked + MASK


def mask_keep(value: str, first: int, last: int) -> str:
    """Keep the first and last characters, replace the rest with * (at least one *)."""
    first, last = max(0, first), max(0, last)
    if len(value) <= first + last:
        keep_n = max(0, min(first, len(value) - 1))
        return value[:keep_n] + MASK * max(1, len(value) - keep_n)
    return value[:first] + MASK * (len(value) - first - last) + (value[-last:] if last else "")


def mask_plain_name(name: str) -> str:
    """Mask a name of Chinese characters only, keeping its (compound) surname."""
    surname = 2 if name[:2] in COMPOUND_SURNAMES else 1
    return name[:surname] + MASK * max(1, len(name) - surname)


def mask_person_name(value: str) -> str:
    """Keep the surname (compound or single); for dotted minority names the first letter."""
    if PLAIN_CHINESE_NAME.fullmatch(value):
        return mask_plain_name(value)  # never the input: it has no *
    name = normalise_name(value)
    if NAME_DOT in name:
        head = name.split(NAME_DOT, 1)[0]
        return never_unchanged(head[:1] + MASK * max(1, len(head) - 1) + NAME_DOT + MASK * 2, value)
    if name and not CJK.search(name):
        # Latin names: the initial of each word ("John Smith" -> "J* S*").
        return never_unchanged(" ".join(word[:1] + MASK for word in name.split()), value)
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return never_unchanged(surname + MASK * max(1, len(name) - len(surname)), value)


def mask_id_number(value: str, first: int = 3, last: int = 2) -> str:
    """Keep the first 3 and the last 2 characters of an ID number."""
    return never_unchanged(mask_keep(normalise_id_number(value), first, last), value)


def mask_mobile(value: str, first: int = 3, last: int = 4) -> str:
    """Keep the first 3 and last 4 digits of a mobile number (138****5678)."""
    digits = normalise_mobile(value)
    masked = mask_keep(digits, first, last) if len(digits) >= 8 else MASK * max(1, len(digits))
    return never_unchanged(masked, value)


def mask_bank_card(value: str, first: int = 0, last: int = 4) -> str:
    """Keep only the last 4 digits of a bank card number."""
    digits = normalise_digits(value)
    if len(digits) <= first + last:
        return never_unchanged(MASK * 4, value)
    return never_unchanged(mask_keep(digits, first, last), value)
