"""Caller-supplied identifiers: one strict grammar, checked before any use.

Consent ids (chosen by the citizen portal), source record ids (chosen by departments),
the gateway's own record, objection and repair ids as callers send them back, and page
tokens all come from callers, and several of them end up in the append-only audit log,
the store and answers. Each must be, before anything else reads it:

- 1 to 128 (or the kind's own bounds) ASCII letters, digits or ``. _ : = -``; a
  department's own document number (a source record id such as ``(2026)浙01执1234号``
  or ``市监罚〔2026〕88号``) may also hold CJK ideographs, ``/ #`` and brackets;
- without a run of 15 or more digits (an ID number, old or new, a bank card), Chinese
  numerals (一二三, 壹贰叁) counting as digits, and without an 18-character ID number
  spread over separators (``110105-19491231-002X``, ``110105〔1949〕1231002X``).

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
from collections.abc import Iterable

from gateway.crypto.blind_index import keyed_digest
from gateway.crypto.keyring import Keyring
from gateway.errors import InvalidArgument
from gateway.pii.scanner import is_id_number

__all__ = ["MAX_IDENTIFIER_CHARS", "MalformedIdentifier", "check_identifier",
           "is_identifier", "nearest_code", "refused_value_digest"]

MAX_IDENTIFIER_CHARS = 128
_CHARS = re.compile(r"[A-Za-z0-9._:=-]+")
_DOCUMENT_CHARS = re.compile(
    r"[A-Za-z0-9._:=/#()\[\]\-\u3400-\u4dbf\u4e00-\u9fff（）〔〕【】]+")
_CHINESE_DIGITS = str.maketrans("〇零一二两三四五六七八九壹贰叁肆伍陆柒捌玖",
                                "001223456789123456789")
_LONG_DIGIT_RUN = re.compile(r"[0-9]{15,}")
# Digits (and a final X) with at most three other signs between them (never letters,
# which would join the hex digits of every UUID): where a spread ID number hides.
_SPREAD_RUN = re.compile(r"[0-9](?:[^0-9A-Za-z]{0,3}[0-9Xx])+")
_NOT_DIGIT = re.compile(r"[^0-9Xx]")
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


def _problem(value: object, min_chars: int, max_chars: int, document: bool) -> str:
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
    text = unicodedata.normalize("NFKC", value).translate(_CHINESE_DIGITS)
    if _LONG_DIGIT_RUN.search(text):
        return ("holds what reads as an ID, mobile or bank card number (a run "
                "of 15 or more digits)")
    for run in _SPREAD_RUN.finditer(text):
        digits = _NOT_DIGIT.sub("", run.group()).upper()
        if any(is_id_number(digits[i:i + 18]) for i in range(len(digits) - 17)):
            return ("holds what reads as an ID, mobile or bank card number (an "
                    "ID number across separators)")
    if document:
        if _DOCUMENT_CHARS.fullmatch(value) is None:
            return ("is malformed: only ASCII letters and digits, CJK ideographs, brackets "
                    "and . _ : = / # - are allowed")
    elif _CHARS.fullmatch(value) is None:
        return "is malformed: only ASCII letters, digits and . _ : = - are allowed"
    return ""


def is_identifier(value: object, *, min_chars: int = 1,
                  max_chars: int = MAX_IDENTIFIER_CHARS, document: bool = False) -> bool:
    """Whether a value is a well-formed caller identifier."""
    return not _problem(value, min_chars, max_chars, document)


def check_identifier(value: object, *, what: str, min_chars: int = 1,
                     max_chars: int = MAX_IDENTIFIER_CHARS, where: str = "",
                     document: bool = False) -> str:
    """The value if it is a well-formed identifier; raises MalformedIdentifier.

    `what` names the identifier and `where` its position ("record 3"), never its value;
    `document` admits a department's document number (CJK, brackets, / and #).
    """
    problem = _problem(value, min_chars, max_chars, document)
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
