"""AuditEntry: canonical bytes, round trip, strict parsing and the ID-number guard."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.entry import AuditEntry, MalformedAuditEntry
from gateway.errors import CredgateError

T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)


def make_entry(**overrides: object) -> AuditEntry:
    values: dict[str, object] = {
        "time": T0,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "requester": "dept.court",
        "action": "query.subject",
        "purpose": "title_evaluation",
        "subject_index": "bi1:Zm9vYmFyYmF6cXV4",
        "categories": ("violations", "licences"),
        "fields_released": ("violations.kind", "licences.number"),
        "consent_id": "",
        "policy_rule": "p, role:court, violations, query, title_evaluation, allow",
        "policy_version": "2024-05-01.1",
        "decision": "allow",
        "reason": "",
        "request_id": "req-0001",
        "record_count": 3,
    }
    values.update(overrides)
    return AuditEntry(**values)  # type: ignore[arg-type]


def test_canonical_bytes_are_the_documented_format() -> None:
    data = make_entry(reason='信用修复 "ok"\n\x01').canonical_bytes()
    expected = (
        '{"action":"query.subject","categories":["violations","licences"],"consent_id":"",'
        '"decision":"allow","fields_released":["violations.kind","licences.number"],'
        '"policy_rule":"p, role:court, violations, query, title_evaluation, allow",'
        '"policy_version":"2024-05-01.1","purpose":"title_evaluation",'
        '"reason":"信用修复 \\"ok\\"\\n\\u0001","record_count":3,"request_id":"req-0001",'
        '"request_signature":"","requester":"dept.court","subject_index":"bi1:Zm9vYmFyYmF6cXV4",'
        '"time":"2024-05-01T08:30:00.123456Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","v":1}'
    )
    assert data == expected.encode("utf-8")


def test_time_is_normalised_to_utc_with_microseconds() -> None:
    beijing = timezone(timedelta(hours=8))
    e = make_entry(time=datetime(2024, 5, 1, 16, 30, tzinfo=beijing))
    assert e.time.tzinfo is UTC
    assert b'"time":"2024-05-01T08:30:00.000000Z"' in e.canonical_bytes()
    assert e == make_entry(time=datetime(2024, 5, 1, 8, 30, tzinfo=UTC))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        make_entry(time=datetime(2024, 5, 1))


@pytest.mark.parametrize(
    "overrides",
    [{"decision": "maybe"}, {"record_count": -1}, {"record_count": True}, {"record_count": 2**53},
     {"categories": ("a", 1)}, {"purpose": None}, {"reason": "\ud800"}],
)  # fmt: skip
def test_invalid_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_entry(**overrides)


# No 17-digit runs: the ID-number guard (tested separately) would refuse some of them.
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(
    lambda s: not re.search("[0-9]{17}", s)
)
_entries = st.builds(
    AuditEntry,
    time=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    trace_id=_text,
    requester=_text,
    action=_text,
    purpose=_text,
    subject_index=_text,
    categories=st.tuples(_text, _text) | st.lists(_text, max_size=5).map(tuple),
    fields_released=st.lists(_text, max_size=5).map(tuple),
    consent_id=_text,
    policy_rule=_text,
    policy_version=_text,
    decision=st.sampled_from(["allow", "deny"]),
    reason=_text,
    request_id=_text,
    record_count=st.integers(min_value=0, max_value=2**53 - 1),
)


@given(_entries)
def test_canonical_bytes_round_trip(entry: AuditEntry) -> None:
    data = entry.canonical_bytes()
    again = AuditEntry.from_canonical(data)
    assert again == entry
    assert again.canonical_bytes() == data
    # Deterministic: a fresh, equal object serialises to the same bytes.
    assert replace(entry).canonical_bytes() == data
    # Independent re-encoding with the documented recipe gives the same bytes.
    recipe = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    assert json.dumps(entry.to_json_object(), **recipe).encode() == data  # type: ignore[arg-type]
    obj = json.loads(data)
    assert (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == data
    )


@given(_entries)
def test_the_fast_encoder_writes_rfc8785(entry: AuditEntry) -> None:
    """The hand-written encoder (no json.dumps per entry) gives RFC 8785's bytes exactly."""
    assert entry.canonical_bytes() == rfc8785.dumps(entry.to_json_object())


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_the_fast_encoder_escapes_any_text_as_rfc8785(text: str) -> None:
    """Control characters, quotes, backslashes and non-ASCII text in every string field."""
    if re.search("[0-9]{17}", text):
        return  # refused by the ID-number guard (tested separately)
    entry = make_entry(reason=text, policy_rule=text, categories=(text, "x"))
    assert entry.canonical_bytes() == rfc8785.dumps(entry.to_json_object())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"v":1}',
        b"not json",
    ],
)
def test_garbage_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedAuditEntry) as info:
        AuditEntry.from_canonical(data)
    assert isinstance(info.value, CredgateError)


def _mutate(obj_change: dict[str, object]) -> bytes:
    obj = json.loads(make_entry().canonical_bytes())
    obj.update(obj_change)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "data",
    [
        _mutate({"v": 2}),
        _mutate({"v": True}),
        _mutate({"extra": "x"}),
        _mutate({"time": "2024-05-01T08:30:00Z"}),
        _mutate({"time": "2024-05-01T08:30:00.000000+00:00"}),
        _mutate({"time": "2024-13-01T08:30:00.000000Z"}),
        _mutate({"record_count": "3"}),
        _mutate({"record_count": 3.0}),
        _mutate({"categories": "violations"}),
        _mutate({"decision": "ALLOW"}),
        _mutate({"reason": "11010519491231002X"}),
    ],
)
def test_wrong_content_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedAuditEntry):
        AuditEntry.from_canonical(data)


def test_non_canonical_encodings_are_refused() -> None:
    data = make_entry(reason="é").canonical_bytes()
    obj = json.loads(data)
    variants = [
        json.dumps(obj, sort_keys=True).encode(),  # whitespace
        json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(),  # \u00e9 escape
        json.dumps(dict(reversed(obj.items())), separators=(",", ":"), ensure_ascii=False).encode(),
        data[:-1] + b',"v":1}',  # duplicate key
        b"\xef\xbb\xbf" + data,  # byte-order mark
    ]
    for variant in variants:
        assert variant != data
        with pytest.raises(MalformedAuditEntry):
            AuditEntry.from_canonical(variant)


@pytest.mark.parametrize(
    "field",
    ["trace_id", "requester", "purpose", "subject_index", "consent_id", "reason", "request_id"],
)
@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002X",
        "lookup of 110105194912310021 failed",
        "id=44030619990101001x;",
        "123456789012345678",  # ID-shaped is enough: a mistyped ID is personal data too
        "身份证110105194912310021",
    ],
)
def test_id_number_in_any_string_field_is_refused(field: str, text: str) -> None:
    with pytest.raises(ValueError) as info:
        make_entry(**{field: text})
    assert "1101051949" not in str(info.value)
    assert "123456789012345678" not in str(info.value)


def test_id_number_in_tuples_is_refused() -> None:
    with pytest.raises(ValueError):
        make_entry(categories=("identity", "11010519491231002X"))
    with pytest.raises(ValueError):
        make_entry(fields_released=("identity.id=110105194912310021",))


def test_guard_does_not_refuse_ordinary_identifiers() -> None:
    make_entry(request_id="1732752000123456789")  # 19-digit nanosecond timestamp
    make_entry(reason="count 12345678901234567")  # 17 digits
    # Hex identifiers with long digit runs inside them (1 in 2,000 random trace ids).
    make_entry(trace_id="00000000000000000000000000000001")
    make_entry(trace_id="a11010519491231002184e7f3c9d0b1e")
    make_entry(subject_index="9f110105194912310021c3" + "0" * 42)
    # Tokens from two fields are not joined into one.
    make_entry(requester="110105194", purpose="912310021")
