"""Caller-supplied identifiers: one strict grammar, checked before any use.

Consent ids (chosen by the citizen portal), source record ids (chosen by departments),
the gateway's own record, objection and repair ids as callers send them back, and page
tokens all come from callers, and several of them end up in the append-only audit log,
the store and answers. Each must be, before anything else reads it:

- 1 to 128 (or the kind's own bounds) ASCII letters, digits or ``. _ : = -``; a
  department's own document number (a source record id such as ``(2026)浙01执1234号``
  or ``市监罚〔2026〕88号``) may also hold CJK ideographs, ``/ #`` and brackets;
- without a run of 15 or more digits (an ID number, old or new, a bank card), every
  digit form the scanner reads (一二三, 壹贰叁, 弌弍弎, full-width) counting as digits,
  and without a personal number of 15 digits or more spread over any run of separators
  (``110105-19491231-002X``, ``110105〔1949〕1231002X``, ``330106--850307_123``,
  ``6222.0202.0011.2345.674``): an ID number, its first 17 digits, an old 15-digit ID
  or a Luhn-valid card number, as the free-text scanner reads them across any run of
  separators (one rule for both). Inside a canonical UUID the hyphens join no digits
  for this (its groups hold 12 digits at most; otherwise about one random UUID in 2,600
  would read as an old ID across them), but an 18-character ID number is looked for
  across them as well.

A value outside the grammar is refused with `MalformedIdentifier`, whose message names
the identifier and the value's length only. The audit entry of that refusal records a
keyed digest of the value (`refused_value_digest`), never the value: the same bad value
can be recognised again without the log ever holding it.
"""

from __future__ import annotations

import base64
import difflib
import re
import unicodedata
import uuid
from collections.abc import Iterable

from gateway.crypto.blind_index import keyed_digest
from gateway.crypto.keyring import Keyring
from gateway.errors import InvalidArgument
from gateway.pii.scanner import (
    BANK_CARD,
    ID_NUMBER,
    MOBILE,
    NUMERALS,
    OLD_ID_NUMBER,
    is_id_number,
    scan,
)

__all__ = ["MAX_IDENTIFIER_CHARS", "MalformedIdentifier", "check_identifier",
           "is_identifier", "nearest_code", "new_identifier", "refused_value_digest"]

MAX_IDENTIFIER_CHARS = 128
_CHARS = re.compile(r"[A-Za-z0-9._:=-]+")
_DOCUMENT_CHARS = re.compile(
    r"[A-Za-z0-9._:=/#()\[\]\-\u3400-\u4dbf\u4e00-\u9fff（）〔〕【】]+")
# Every digit form the scanner reads (Chinese numerals 一二三, 壹贰叁 and their old and
# variant forms, digit symbols) as its ASCII digit, one for one.
_DIGIT_FORMS = str.maketrans(NUMERALS)
_LONG_DIGIT_RUN = re.compile(r"[0-9]{15,}")
# Digits (and a final X) with any run of other signs between them (never letters, which
# would join the hex digits of every UUID): where a spread personal number hides.
_SPREAD_RUN = re.compile(r"[0-9](?:[^0-9A-Za-z]*[0-9Xx])+")
# A canonical UUID: its hyphens join no digits (its groups hold 12 digits at most), or
# about one random UUID in 2,600 would read as an old ID number across them. An ID
# number of 18 characters is looked for across them all the same.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_DIGIT = re.compile(r"[^0-9Xx]")
# What the scanner finds that has 15 digits or more (a mobile has 11).
_LONG_KINDS = frozenset({ID_NUMBER, OLD_ID_NUMBER, BANK_CARD})
_LOGGED_KINDS = _LONG_KINDS | {MOBILE}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_DIGEST_LABEL = b"credgate/refused-identifier/v1\0"


class MalformedIdentifier(InvalidArgument):
    """A caller-supplied identifier outside the grammar.

    The refused value is kept on the error only so that the audit step can record its
    keyed digest; it is never part of the message, the diagnostics or a log line.
    """

    def __init__(self, what: str, value: object, problem: str, *, where: str = "") -> None:
        length = len(value) if isinstance(value, str | bytes) else 0
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{what} {problem} (length {length})",
                         reason=f"malformed_{what}")
        self.what = what
        self.refused_value = value if isinstance(value, str) else repr(type(value))

    def __repr__(self) -> str:
        return f"MalformedIdentifier({self.what!r})"


def _problem(value: object, min_chars: int, max_chars: int, document: bool,
             logged: bool = False) -> str:
    """What is wrong with a value, as "<identifier> ..." words ("" when it is good)."""
    if not isinstance(value, str):
        return "is not text"
    if not value.strip():
        return "is required"
    if len(value) > max_chars:
        return f"longer than {max_chars} characters"
    if len(value) < min_chars:
        return f"shorter than {min_chars} characters"
    if _CONTROL.search(value):
        return "holds control characters"
    # Personal numbers first, in any script: NFKC makes full-width digits plain.
    text = unicodedata.normalize("NFKC", value).translate(_DIGIT_FORMS)
    if _LONG_DIGIT_RUN.search(text):
        return ("holds what reads as an ID, mobile or bank card number (a run "
                "of 15 or more digits)")
    apart = _UUID.sub(_uuid_apart, text) if _UUID.search(text) is not None else text
    if _spread_id_number(text) or _spread_number(apart, logged):
        return ("holds what reads as an ID, mobile or bank card number (a "
                "personal number across separators)")
    if document:
        if _DOCUMENT_CHARS.fullmatch(value) is None:
            return ("is malformed: only ASCII letters and digits, CJK ideographs, brackets "
                    "and . _ : = / # - are allowed")
    elif _CHARS.fullmatch(value) is None:
        return "is malformed: only ASCII letters, digits and . _ : = - are allowed"
    return ""


def _uuid_apart(match: re.Match[str]) -> str:
    """A canonical UUID with its hyphens as letters: they join no digits."""
    return match.group().replace("-", "g")


def _spread_number(text: str, logged: bool) -> bool:
    """Whether the scanner reads, across separators, a personal number of 15 digits or
    more in a text (an ID number of 18, 17 or old 15 digits, a card number) or, for an
    identifier that is logged or stored as written, any (a mobile too)."""
    kinds = _LOGGED_KINDS if logged else _LONG_KINDS
    return any(finding.kind in kinds for finding in scan(text, old_ids=True))


def _spread_id_number(text: str) -> bool:
    """Whether digits joined by any other signs (not letters) hold an 18-character ID."""
    for run in _SPREAD_RUN.finditer(text):
        digits = _NOT_DIGIT.sub("", run.group()).upper()
        if any(is_id_number(digits[i:i + 18]) for i in range(len(digits) - 17)):
            return True
    return False


def is_identifier(value: object, *, min_chars: int = 1,
                  max_chars: int = MAX_IDENTIFIER_CHARS, document: bool = False,
                  logged: bool = False) -> bool:
    """Whether a value is a well-formed caller identifier."""
    return not _problem(value, min_chars, max_chars, document, logged)


def new_identifier(prefix: str) -> str:
    """A fresh ``<prefix>-<uuid4>`` that passes the grammar of a logged identifier: about
    one random UUID in 3,000 holds 11 or 12 digits that read as a mobile number."""
    while True:
        value = f"{prefix}-{uuid.uuid4()}"
        if is_identifier(value, logged=True):
            return value


def check_identifier(value: object, *, what: str, min_chars: int = 1,
                     max_chars: int = MAX_IDENTIFIER_CHARS, where: str = "",
                     document: bool = False, logged: bool = False) -> str:
    """The value if it is a well-formed identifier; raises MalformedIdentifier.

    `what` names the identifier and `where` its position ("record 3"), never its value;
    `document` admits a department's document number (CJK, brackets, / and #);
    `logged` is for an identifier the audit log or the store keeps as written (a consent
    id, a peer's batch id): it may hold no mobile number either.
    """
    problem = _problem(value, min_chars, max_chars, document, logged)
    if problem:
        raise MalformedIdentifier(what, value, problem, where=where)
    assert isinstance(value, str)
    return value


def refused_value_digest(keyring: Keyring, value: str) -> str:
    """``<key id>:<base32 of 16 bytes>``: a keyed digest of a refused value for the audit.

    Base32 (letters and 2-7) so the digest itself never forms a run of digits that the
    audit entry would take for an ID number.
    """
    key_id, _, hex_mac = keyed_digest(
        keyring, _DIGEST_LABEL + value.encode("utf-8", "surrogatepass")).rpartition(":")
    mac = base64.b32encode(bytes.fromhex(hex_mac)[:16]).decode().rstrip("=").lower()
    return f"{key_id}:{mac}"


def nearest_code(value: object, codes: Iterable[str]) -> str:
    """`` (nearest valid code: X)`` for a mistyped catalogue code, or "" when none is near.

    The hint names a catalogue code only, never the caller's text, so an error can help
    without quoting what the caller wrote.
    """
    if not isinstance(value, str) or len(value) > MAX_IDENTIFIER_CHARS:
        return ""
    found = difflib.get_close_matches(value, sorted(codes), n=1, cutoff=0.75)
    return f" (nearest valid code: {found[0]})" if found else ""
