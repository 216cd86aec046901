"""One audit entry: what the gateway decided for one call, and its canonical bytes.

Canonical serialisation, format version 1 (this is what the Merkle tree hashes and
what a regulator re-computes; changing it needs a new ``"v"``):

* A single JSON object (RFC 8259), encoded as UTF-8 without a byte-order mark.
* Exactly these 17 members, no others, none missing::

      "action"          string   e.g. "query.subject"
      "categories"      array of strings, in the order given
      "consent_id"      string   "" when no consent was involved
      "decision"        string   "allow" or "deny"
      "fields_released" array of strings "category.field", in the order given
      "policy_rule"     string
      "policy_version"  string
      "purpose"         string
      "reason"          string
      "record_count"    integer, 0 <= n < 2**53
      "request_id"      string
      "request_signature" string "v1 <time> <digest> <base64 Ed25519 signature>" of
                        the caller's signed request (gateway.identify.request_signing), or ""
      "requester"       string   party id
      "subject_index"   string   keyed blind index of the ID number, "" when none
      "time"            string   RFC 3339 UTC, always 6 fractional digits and "Z",
                                 e.g. "2024-05-01T08:30:00.000000Z"
      "trace_id"        string
      "v"               integer, always 1

* Members sorted by key (all keys are ASCII, so byte order = code point order), no
  whitespace at all: separators are ``,`` and ``:``.
* Strings are not ASCII-escaped: non-ASCII characters appear as raw UTF-8. Only ``"``
  and ``\\`` and the control characters U+0000..U+001F are escaped: ``\\b \\t \\n \\f \\r``
  by their short forms, every other control character as ``\\u00xx`` (lower-case hex).
  Lone surrogates are refused when the entry is built.
* Integers in plain decimal, no sign for non-negative values, no leading zeros.

For this schema (strings, arrays of strings, small non-negative integers) the output is
byte-identical to RFC 8785 (JSON Canonicalization Scheme), so a regulator can verify it
with any JCS implementation; in Python it is ``rfc8785.dumps(entry.to_json_object())``.
``canonical_bytes`` writes it by hand because it runs on every call; a hypothesis test
pins it to the ``rfc8785`` package (tests/audit/test_audit_entry.py).

``AuditEntry.from_canonical`` accepts only bytes that re-serialise to themselves, so
every accepted byte string has exactly one meaning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote
from typing import Any, ClassVar

from gateway.errors import CredgateError

#: The canonical format version written into every entry as "v".
FORMAT_VERSION = 1

DECISIONS = frozenset({"allow", "deny"})

# Last line of defence against an ID number (GB 11643: 17 digits and a check character
# 0-9 or X) leaking into the audit: an 18-character token of that shape standing on its
# own, i.e. not part of a longer run of ASCII letters and digits. The boundary matters:
# random hex identifiers contain bare 18-digit runs by chance (measured: 1 in 2,000
# W3C trace ids, 1 in 700 hex SHA-256 digests) and would refuse legitimate calls; as
# parts of a longer hex token they are never standalone, so they pass. Longer numbers
# (nanosecond timestamps) pass too. The price: an ID glued to letters ("id1101...") is
# missed, while "id=1101...", "id 1101..." or "身份证1101..." are caught. The lookbehind
# sits after the first digit so the regex engine can skip ahead to digits quickly.
_ID_NUMBER_LIKE = re.compile(r"[0-9](?<![0-9A-Za-z][0-9])[0-9]{16}[0-9Xx](?![0-9A-Za-z])")
# Cheap prefilter: without a run of 17 digits there is no ID number (the common case).
_DIGIT_RUN = re.compile(r"[0-9]{17}")

_SURROGATE = re.compile("[\ud800-\udfff]")
_TIME_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_MAX_COUNT = 2**53  # JSON integers beyond this are not portable (RFC 8785 / I-JSON)


class MalformedAuditEntry(CredgateError):
    """Bytes are not a canonical version-1 audit entry (corrupt or tampered data)."""

    status = "DATA_LOSS"


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """The gateway's decision for one call, as it goes into the audit log."""

    time: datetime
    trace_id: str
    requester: str
    action: str
    purpose: str
    subject_index: str
    categories: tuple[str, ...]
    fields_released: tuple[str, ...]
    consent_id: str
    policy_rule: str
    policy_version: str
    decision: str
    reason: str
    request_id: str
    record_count: int
    #: The caller's signature on its request ("v1 <time> <digest> <base64 sig>", see
    #: gateway.identify.request_signing); "" when the call was refused before it was verified.
    request_signature: str = ""

    _TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("categories", "fields_released")

    # Construction runs on every gateway call, so the checks below avoid per-field
    # Python loops: str.join type-checks every value in C, and two regex scans cover
    # all text at once.
    def __post_init__(self) -> None:
        t = self.time
        if t.__class__ is not datetime or t.tzinfo is not UTC:
            if not isinstance(t, datetime) or t.utcoffset() is None:
                raise ValueError("audit entry time must be a timezone-aware datetime")
            # Normalise so equal instants give equal bytes and round-trip to equal objects.
            try:
                object.__setattr__(self, "time", t.astimezone(UTC))
            except OverflowError:
                raise ValueError("audit entry time is out of range") from None
        for name in self._TUPLE_FIELDS:
            value = getattr(self, name)
            if value.__class__ is not tuple:
                if not isinstance(value, list | tuple):
                    raise ValueError(f"audit entry field {name} must be a tuple of strings")
                object.__setattr__(self, name, tuple(value))
        texts = (
            self.trace_id, self.requester, self.action, self.purpose, self.subject_index,
            self.consent_id, self.policy_rule, self.policy_version, self.decision,
            self.reason, self.request_id, self.request_signature, *self.categories,
            *self.fields_released,
        )  # fmt: skip
        try:
            # The NUL separator keeps tokens of neighbouring fields from joining up.
            joined = "\x00".join(texts)
        except TypeError:
            raise ValueError("audit entry text fields must be strings") from None
        if self.decision not in DECISIONS:
            raise ValueError("audit entry decision must be 'allow' or 'deny'")
        count = self.record_count
        if count.__class__ is not int or not 0 <= count < _MAX_COUNT:
            raise ValueError("audit entry record_count must be an integer in [0, 2**53)")
        if _DIGIT_RUN.search(joined) and _ID_NUMBER_LIKE.search(joined):
            # Never echo the value: it is, by assumption, personal data.
            raise ValueError("audit entry contains an ID-number-like token")
        if not joined.isascii() and _SURROGATE.search(joined):
            raise ValueError("audit entry contains a lone surrogate")

    def to_json_object(self) -> dict[str, Any]:
        """The entry as the JSON object of the canonical form (before encoding)."""
        return {
            "v": FORMAT_VERSION,
            "time": self.time.isoformat(timespec="microseconds")[:-6] + "Z",
            "trace_id": self.trace_id,
            "requester": self.requester,
            "action": self.action,
            "purpose": self.purpose,
            "subject_index": self.subject_index,
            "categories": list(self.categories),
            "fields_released": list(self.fields_released),
            "consent_id": self.consent_id,
            "policy_rule": self.policy_rule,
            "policy_version": self.policy_version,
            "decision": self.decision,
            "reason": self.reason,
            "request_id": self.request_id,
            "request_signature": self.request_signature,
            "record_count": self.record_count,
        }

    def canonical_bytes(self) -> bytes:
        """The canonical version-1 serialisation described in the module docstring."""
        cached: bytes | None = self.__dict__.get("_canonical")
        if cached is None:
            # Written out by hand in sorted key order with the same C string encoder
            # json.dumps uses: about 3x faster than json.dumps(sort_keys=True), and
            # identical to it (the round-trip test checks against the json recipe).
            q = _quote
            cached = (
                f'{{"action":{q(self.action)},'
                f'"categories":[{",".join(map(q, self.categories))}],'
                f'"consent_id":{q(self.consent_id)},'
                f'"decision":{q(self.decision)},'
                f'"fields_released":[{",".join(map(q, self.fields_released))}],'
                f'"policy_rule":{q(self.policy_rule)},'
                f'"policy_version":{q(self.policy_version)},'
                f'"purpose":{q(self.purpose)},'
                f'"reason":{q(self.reason)},'
                f'"record_count":{self.record_count},'
                f'"request_id":{q(self.request_id)},'
                f'"request_signature":{q(self.request_signature)},'
                f'"requester":{q(self.requester)},'
                f'"subject_index":{q(self.subject_index)},'
                f'"time":"{self.time.isoformat(timespec="microseconds")[:-6]}Z",'
                f'"trace_id":{q(self.trace_id)},'
                f'"v":{FORMAT_VERSION}}}'
            ).encode()
            # Cached outside the dataclass fields: not part of eq/repr/hash.
            object.__setattr__(self, "_canonical", cached)
        return cached

    @classmethod
    def from_canonical(cls, data: bytes) -> AuditEntry:
        """Parse canonical bytes; raises MalformedAuditEntry unless they are exactly canonical."""
        try:
            obj = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError, TypeError):
            raise MalformedAuditEntry("audit entry is not UTF-8 JSON", reason="bad_json") from None
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise MalformedAuditEntry("audit entry has the wrong members", reason="bad_members")
        if obj["v"] != FORMAT_VERSION or type(obj["v"]) is not int:
            raise MalformedAuditEntry("unknown audit entry version", reason="bad_version")
        t = obj["time"]
        if not isinstance(t, str) or not _TIME_SHAPE.fullmatch(t):
            raise MalformedAuditEntry("audit entry time is not RFC 3339 UTC", reason="bad_time")
        kwargs = {k: v for k, v in obj.items() if k != "v"}
        for name in cls._TUPLE_FIELDS:
            if not isinstance(kwargs[name], list):
                raise MalformedAuditEntry(f"audit entry {name} is not an array", reason="bad_type")
            kwargs[name] = tuple(kwargs[name])
        try:
            kwargs["time"] = datetime.fromisoformat(t[:-1]).replace(tzinfo=UTC)
            entry = cls(**kwargs)
        except (ValueError, TypeError) as exc:
            # The constructor's message is safe (it never echoes values).
            raise MalformedAuditEntry(
                "audit entry fails validation", reason="bad_value", detail=str(exc)
            ) from None
        if entry.canonical_bytes() != bytes(data):
            raise MalformedAuditEntry(
                "audit entry is not in canonical form", reason="not_canonical"
            )
        return entry


_KEYS = frozenset({"v"} | {f.name for f in fields(AuditEntry)})
