"""Typed field values at intake: each value is what its catalogue type says, or refused.

A typed field (money, date, enumeration, credit code) is no hiding place for a personal
number: an ID number in an amount, an enumeration or a credit code field is refused,
because the value is not a plain amount, not one of the listed values, or reads as an
ID number. Messages name the record and the field, never the value.

- money: a plain non-negative decimal, ASCII digits, at most 10 before the point and 2
  after it (no sign, exponent, NaN, infinity, separators or full-width digits);
- date: YYYY-MM-DD (ISO 8601 calendar date), a real day between 1900 and 2099;
- enum: one of the values the catalogue lists for the field;
- uscc: a GB 32100 credit code. One that fails only its check character is accepted and
  logged as a warning: some codes issued in the pilot period do.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from gateway.catalogue.registry import FieldSpec
from gateway.errors import InvalidArgument
from gateway.records.uscc import parse_uscc

log = logging.getLogger(__name__)

# No sign, no exponent, no separators; 10 digits before the point bound an amount below
# ten billion yuan, and keep an 11-digit mobile, a 15/18-digit ID number and a 16-19
# digit card number out of it.
_MONEY = re.compile(r"(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?")
_DATE = re.compile(r"(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}")
_PILOT_PERIOD = "uscc_checksum"
TYPED = frozenset({"money", "date", "enum", "uscc"})


def check_typed(spec: FieldSpec, value: str, *, where: str) -> str:
    """The value of a typed field, stripped; raises InvalidArgument when it is not of its type."""
    text = value.strip()
    kind = spec.type
    if kind == "money":
        if not (text.isascii() and _MONEY.fullmatch(text)):
            raise InvalidArgument(f"{where}: field {spec.code} must be an amount such as "
                                  "1200.50 (digits, at most 10 before and 2 after the point, "
                                  "no sign or exponent)", reason="bad_money")
    elif kind == "date":
        if not (text.isascii() and _DATE.fullmatch(text)):
            raise InvalidArgument(f"{where}: field {spec.code} must be a date YYYY-MM-DD",
                                  reason="bad_date")
        try:
            date.fromisoformat(text)
        except ValueError:
            raise InvalidArgument(f"{where}: field {spec.code} is not a real day",
                                  reason="bad_date") from None
    elif kind == "enum":
        if text not in spec.values:
            raise InvalidArgument(f"{where}: field {spec.code} must be one of the values "
                                  "the catalogue lists for it", reason="bad_enum")
    elif kind == "uscc":
        try:
            parse_uscc(text, field=f"{where}: field {spec.code}")
        except InvalidArgument as exc:
            if exc.reason != _PILOT_PERIOD:
                raise
            # Logged without the code: the record and field say where to look.
            log.warning("%s: field %s fails the GB 32100 check character (a pilot-period "
                        "code?); accepted", where, spec.code)
    return text
