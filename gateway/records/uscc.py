"""Unified social credit codes per GB 32100-2015 (统一社会信用代码).

An organisation's code, not personal data: it stays in clear in every disclosure.
Layout (GB 32100-2015 §4): 1 character registration authority (登记管理部门代码),
1 character organisation type (机构类别代码), 6-digit administrative division code of
the registering authority (GB/T 2260), 9-character subject identifier (主体标识码, the
GB 11714 organisation code), 1 check character.

The code character set (§4 table 1) is the digits and the upper-case Latin letters
except I, O, Z, S and V: 31 characters with the values 0..30. The check character
(§5, annex) is C18 = 31 - MOD(sum(Ci * Wi, i = 1..17), 31), with the weight
Wi = MOD(3^(i-1), 31); a result of 31 is written as the character of value 0.
The standard's worked example checks "91350100M000100Y4Z": the sum is 1640, 1640 mod 31
is 28, so the check character is 3 and the code with Z is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidArgument

# GB 32100-2015 table 1: the code character set, in value order (0..30).
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {char: value for value, char in enumerate(CHARSET)}
MODULUS = 31
# GB 32100-2015 table 2: Wi = 3^(i-1) mod 31 for the positions i = 1..17.
WEIGHTS = tuple(pow(3, i, MODULUS) for i in range(17))
LENGTH = 18


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character of 17 code characters; raises InvalidArgument."""
    if len(first17) != LENGTH - 1 or any(char not in _VALUES for char in first17):
        raise InvalidArgument("a credit code needs 17 characters from its character set",
                              reason="uscc_format")
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(MODULUS - total % MODULUS) % MODULUS]


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A validated unified social credit code (organisations' codes are not personal data)."""

    value: str

    @property
    def registration_authority(self) -> str:
        """Position 1: the registration authority code (e.g. 9 market regulation)."""
        return self.value[0]

    @property
    def organisation_type(self) -> str:
        """Position 2: the organisation type code within the authority."""
        return self.value[1]

    @property
    def division_code(self) -> str:
        """Positions 3-8: the administrative division code of the registering authority."""
        return self.value[2:8]

    @property
    def subject_code(self) -> str:
        """Positions 9-17: the subject identifier (the GB 11714 organisation code)."""
        return self.value[8:17]


def parse_uscc(text: str, *, field: str = "uscc") -> CreditCode:
    """Validate a unified social credit code; raises InvalidArgument naming what is wrong."""
    value = text.strip().upper() if isinstance(text, str) else ""
    if not value:
        raise InvalidArgument(f"{field} is required", reason="uscc_missing")
    if len(value) != LENGTH:
        raise InvalidArgument(f"{field} must have {LENGTH} characters", reason="uscc_length")
    if any(char not in _VALUES for char in value):
        raise InvalidArgument(f"{field} has a character outside GB 32100 (no I, O, Z, S, V)",
                              reason="uscc_format")
    if not value[2:8].isdigit():
        raise InvalidArgument(f"{field} positions 3-8 must be a division code",
                              reason="uscc_division")
    if value[17] != check_character(value[:17]):
        raise InvalidArgument(f"{field} has a wrong check character", reason="uscc_checksum")
    return CreditCode(value=value)


def is_uscc(text: str) -> bool:
    """Whether a text is a valid unified social credit code (for scanners; never raises)."""
    try:
        parse_uscc(text)
    except InvalidArgument:
        return False
    return True


def make_uscc(first17: str) -> str:
    """Complete 17 characters with their check character (for tests and synthetic data)."""
    body = first17.upper()
    return body + check_character(body)
