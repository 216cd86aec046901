"""The six malformed protobuf bodies of issue 10, built for one request type.

Invalid UTF-8 and a lone surrogate are malformed only inside a string field, so they
are written into the type's first string field (types without one get neither).
"""

from __future__ import annotations

from typing import Any


def _tag(number: int, wire_type: int) -> bytes:
    value, out = (number << 3) | wire_type, bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def malformed_bodies(message_type: Any) -> dict[str, bytes]:
    """Shape name -> a body of that shape that no decoder may accept for this type."""
    bodies = {
        "truncated_varint": b"\x08\xff\xff\xff",
        "bad_length": b"\x0a\x10ab",
        "deep_groups": b"\x7b" * 300 + b"\x7c" * 300,
        "field_0": b"\x00\x01",
    }
    strings = [f for f in message_type.DESCRIPTOR.fields if f.type == f.TYPE_STRING]
    if strings:
        tag = _tag(strings[0].number, 2)
        bodies["invalid_utf8"] = tag + b"\x02\xff\xfe"
        bodies["lone_surrogate"] = tag + b"\x03\xed\xa0\x80"
    return bodies
