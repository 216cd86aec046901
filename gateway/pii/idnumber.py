"""Citizen ID numbers per GB 11643-1999 (公民身份号码).

Layout: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit sequence
(odd for men, even for women), 1 check character. The check character is the
ISO 7064 MOD 11-2 check over the first 17 digits, written X for the value 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.errors import InvalidArgument

# GB 11643-1999 §8.2: weight W_i = 2^(i-1) mod 11, for positions 18..2 (left to right).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Check character for (sum mod 11) = 0..10.
_CHECK_CHARS = "10X98765432"
_MIN_BIRTH = date(1900, 1, 1)


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A validated 18-digit ID number. Its repr hides the value."""

    value: str
    birth_date: date

    def __repr__(self) -> str:
        return "IdNumber(<redacted>)"

    __str__ = __repr__

    def age_on(self, day: date) -> int:
        """Age in whole years on a given day."""
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    @property
    def is_male(self) -> bool:
        """Sex from the sequence code: odd for men, even for women."""
        return int(self.value[16]) % 2 == 1


def parse_id_number(text: str, *, today: date, field: str = "subject_id") -> IdNumber:
    """Validate an ID number; raises InvalidArgument (never echoing the value) when it is bad."""
    value = text.strip().upper() if isinstance(text, str) else ""
    if not value:
        raise InvalidArgument(f"{field} is required")
    if len(value) != 18:
        raise InvalidArgument(f"{field} must have 18 characters", reason="id_length")
    if not value[:17].isdigit() or not value[:17].isascii():
        raise InvalidArgument(f"{field} must start with 17 digits", reason="id_format")
    if value[17] != check_character(value[:17]):
        raise InvalidArgument(f"{field} has a wrong check character", reason="id_checksum")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidArgument(f"{field} has an impossible birth date", reason="id_birth") from None
    if birth > today or birth < _MIN_BIRTH:
        raise InvalidArgument(f"{field} has a birth date out of range", reason="id_birth")
    return IdNumber(value=value, birth_date=birth)


def make_id_number(address_code: str, birth: date, sequence: int) -> str:
    """Compose a valid ID number (for tests, demos and synthetic data)."""
    if len(address_code) != 6 or not address_code.isdigit() or not 0 <= sequence <= 999:
        raise ValueError("address code must be 6 digits and sequence 0..999")
    first17 = f"{address_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
