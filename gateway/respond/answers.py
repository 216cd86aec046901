"""Signed answers: the gateway signs what it tells a party, so the party can prove it later.

X-Road signs both directions for the same reason: the gateway can prove what a party
asked (its request signature is in the audit log), and a party can prove what the
gateway answered. The statement signed is, each part framed as a 4-byte big-endian
length and its bytes::

    frame("credgate/answer/v1") || frame(method) || frame(party) || frame(request digest)
    || frame(audit seq, decimal) || frame(signed_at) || frame(answer bytes)

The answer bytes are bytes the party receives (docs/request-signing.md): the gateway
serialises the answer once without its ``answer_signature`` field (field 100), signs
that, and sends exactly those bytes followed by the one ``answer_signature`` record. A
verifier in any language takes the message as received, removes the top-level record
of field 100 (there must be exactly one) and has the signed bytes; it never needs to
re-encode anything. The ``AnswerSignature`` message carries every part but the answer,
plus the algorithm and key id; a saved answer (its received bytes) verifies offline
with the gateway's answer public key alone (``credgate verify-answer``).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from datetime import datetime
from pathlib import Path

from google.protobuf.message import DecodeError, Message

from gateway.api import pb
from gateway.clock import rfc3339
from gateway.crypto.sealing import BoxKey, BoxPublicKey
from gateway.crypto.signers import Signer, Verifier
from gateway.errors import BadSignature, DecryptionError, InvalidArgument

__all__ = [
    "ANSWER_TYPES", "FIELD_NUMBER", "LABEL", "load_answer", "load_saved", "open_records",
    "save_answer", "seal_records", "sign_answer", "split_signed", "statement", "verify_answer",
    "verify_answer_bytes",
]

LABEL = b"credgate/answer/v1"
FIELD = "answer_signature"
#: The field number of ``answer_signature`` in every signed answer message.
FIELD_NUMBER = 100
SAVED_FORMAT = "credgate-answer/v1"
#: The answers the gateway signs, by full message name (for saved answers).
ANSWER_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (pb.QuerySubjectResponse, pb.GreenChannelResponse, pb.JointPunishmentResponse,
                pb.IncentiveResponse)
}
_length = struct.Struct(">I").pack
_LENGTH_DELIMITED = 2


def _frame(*parts: bytes) -> bytes:
    return b"".join(piece for part in parts for piece in (_length(len(part)), part))


def statement(details: pb.AnswerSignature, body: bytes) -> bytes:
    """The exact bytes signed for an answer body (its bytes without field 100) and its
    signature's details."""
    return _frame(LABEL, details.method.encode("utf-8"), details.party.encode("utf-8"),
                  details.request_digest.encode("ascii", "replace"),
                  str(details.audit_seq).encode("ascii"),
                  details.signed_at.encode("ascii", "replace"), body)


def sign_answer(answer: Message, *, signer: Signer, method: str, party: str,
                request_digest: str, audit_seq: int, now: datetime) -> bytes:
    """Sign an answer: set its ``answer_signature`` and return the bytes to send (the
    signed body, then the signature record), which the party verifies as received."""
    details = pb.AnswerSignature(
        algorithm=signer.algorithm, key_id=signer.public.key_id, method=method, party=party,
        request_digest=request_digest, audit_seq=audit_seq, signed_at=rfc3339(now))
    answer.ClearField(FIELD)
    body = answer.SerializeToString(deterministic=True)
    details.signature = signer.sign(statement(details, body))
    getattr(answer, FIELD).CopyFrom(details)
    # The record alone: a message of the same type holding only field 100.
    record = type(answer)(**{FIELD: details}).SerializeToString()
    return body + record


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A base-128 varint at `at`: (value, next position); raises ValueError."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def split_signed(raw: bytes) -> tuple[bytes, bytes]:
    """(signed body, answer_signature bytes) of an answer as received.

    The top-level records are walked by their wire types; the one record of field 100
    is taken out and the rest, in order, is the signed body. Raises BadSignature when
    the bytes do not parse, hold a group, or hold no or several records of field 100.
    """
    body = bytearray()
    found: list[bytes] = []
    at = 0
    try:
        while at < len(raw):
            begin = at
            tag, at = _varint(raw, at)
            number, wire_type = tag >> 3, tag & 7
            if number == 0:
                raise ValueError("field 0")
            if wire_type == 0:
                _, at = _varint(raw, at)
            elif wire_type == 1:
                at += 8
            elif wire_type == 5:
                at += 4
            elif wire_type == _LENGTH_DELIMITED:
                size, at = _varint(raw, at)
                at += size
            else:
                raise ValueError("groups are not allowed in an answer")
            if at > len(raw):
                raise ValueError("truncated record")
            if number == FIELD_NUMBER:
                if wire_type != _LENGTH_DELIMITED:
                    raise ValueError("answer_signature is not length-delimited")
                found.append(raw[at - size:at])
            else:
                body += raw[begin:at]
    except ValueError:
        raise BadSignature("the answer is not a well-formed message") from None
    if not found:
        raise BadSignature("the answer is not signed")
    if len(found) != 1:
        raise BadSignature("the answer holds more than one signature")
    return bytes(body), found[0]


def verify_answer_bytes(raw: bytes, answer_type: type[Message], key: Verifier, *,
                        method: str | None = None, party: str | None = None,
                        request_digest: str | None = None
                        ) -> tuple[Message, pb.AnswerSignature]:
    """Check the signature of an answer as received; returns (answer, its signature).

    Raises BadSignature when the answer is unsigned, signed by another key or algorithm,
    altered, or signed for another method, party, request or audit entry than stated.
    """
    body, record = split_signed(raw)
    try:
        details = pb.AnswerSignature.FromString(record)
        answer = answer_type.FromString(raw)
    except DecodeError:
        raise BadSignature("the answer is not a well-formed message") from None
    if details.algorithm != key.algorithm or details.key_id != key.key_id:
        raise BadSignature("the answer is signed by another key")
    if details.audit_seq != getattr(answer, "audit_seq", details.audit_seq):
        raise BadSignature("the answer's audit entry differs from the signed one")
    for given, signed in ((method, details.method), (party, details.party),
                          (request_digest, details.request_digest)):
        if given is not None and given != signed:
            raise BadSignature("the answer was signed for another call")
    key.verify(statement(details, body), details.signature, algorithm=details.algorithm)
    return answer, details


def verify_answer(answer: Message, key: Verifier, *, method: str | None = None,
                  party: str | None = None, request_digest: str | None = None
                  ) -> pb.AnswerSignature:
    """Check a decoded answer's signature by encoding it again (a Python answer encodes
    back to the bytes the gateway signed); prefer `verify_answer_bytes` on the bytes
    received. Raises BadSignature as it does."""
    if FIELD not in {f.name for f in answer.DESCRIPTOR.fields} or not answer.HasField(FIELD):
        raise BadSignature("the answer is not signed")
    _, details = verify_answer_bytes(answer.SerializeToString(deterministic=True),
                                     type(answer), key, method=method, party=party,
                                     request_digest=request_digest)
    return details


def save_answer(path: Path, answer: Message, received: bytes | None = None) -> None:
    """Write an answer as it arrived, for ``credgate verify-answer`` (JSON, base64 of the
    bytes received; a decoded answer given alone is encoded back deterministically)."""
    raw = answer.SerializeToString(deterministic=True) if received is None else received
    doc = {"format": SAVED_FORMAT, "type": answer.DESCRIPTOR.full_name,
           "answer": base64.b64encode(raw).decode("ascii")}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def load_saved(path: Path) -> tuple[type[Message], bytes]:
    """A saved answer's type and bytes as received; raises InvalidArgument when it is not
    one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != SAVED_FORMAT:
            raise ValueError
        answer_type = ANSWER_TYPES[doc["type"]]
        raw = base64.b64decode(doc["answer"], validate=True)
        answer_type.FromString(raw)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error,
            DecodeError):
        raise InvalidArgument("not a saved credgate answer", reason="bad_answer_file") from None
    return answer_type, raw


def load_answer(path: Path) -> Message:
    """Read a saved answer, decoded; raises InvalidArgument when it is not one."""
    answer_type, raw = load_saved(path)
    return answer_type.FromString(raw)


def seal_records(answer: pb.QuerySubjectResponse, key: BoxPublicKey) -> None:
    """Move an answer's records into ``sealed_records``, sealed to a party's X25519 key.

    Sealing comes before signing, so the signature covers the bytes as they travel and
    verifies without the party's private key.
    """
    inner = pb.SealedRecords()
    inner.records.extend(answer.records)
    answer.sealed_records = key.seal(inner.SerializeToString(deterministic=True))
    answer.ClearField("records")


def open_records(answer: pb.QuerySubjectResponse, key: BoxKey) -> pb.QuerySubjectResponse:
    """A copy of a sealed answer with its records opened (the signature then covers the
    sealed form only: keep the answer as received to prove it). Raises DecryptionError."""
    opened = pb.QuerySubjectResponse()
    opened.CopyFrom(answer)
    if not answer.sealed_records:
        return opened
    inner = pb.SealedRecords()
    try:
        inner.ParseFromString(key.open(answer.sealed_records))
    except DecodeError:
        raise DecryptionError() from None
    opened.ClearField("sealed_records")
    opened.records.extend(inner.records)
    return opened
