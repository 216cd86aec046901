"""Signed answers: the gateway signs what it tells a party, so the party can prove it later.

X-Road signs both directions for the same reason: the gateway can prove what a party
asked (its request signature is in the audit log), and a party can prove what the
gateway answered. The statement signed is, each part framed as a 4-byte big-endian
length and its bytes::

    frame("credgate/answer/v1") || frame(method) || frame(party) || frame(request digest)
    || frame(audit seq, decimal) || frame(signed_at) || frame(answer bytes)

where the answer bytes are the answer message's deterministic protobuf serialisation
with its ``answer_signature`` field unset. The ``AnswerSignature`` message carries
every part but the answer, plus the algorithm and key id; ``verify_answer`` rebuilds
the statement from the answer it is given, so a saved answer verifies offline with the
gateway's answer public key alone (``credgate verify-answer``).
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
    "ANSWER_TYPES", "LABEL", "load_answer", "open_records", "save_answer", "seal_records",
    "sign_answer", "statement", "verify_answer",
]

LABEL = b"credgate/answer/v1"
FIELD = "answer_signature"
SAVED_FORMAT = "credgate-answer/v1"
#: The answers the gateway signs, by full message name (for saved answers).
ANSWER_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (pb.QuerySubjectResponse, pb.GreenChannelResponse, pb.JointPunishmentResponse,
                pb.IncentiveResponse)
}
_length = struct.Struct(">I").pack


def _frame(*parts: bytes) -> bytes:
    return b"".join(piece for part in parts for piece in (_length(len(part)), part))


def _body(answer: Message) -> bytes:
    """The answer's deterministic bytes with its signature field unset."""
    if not answer.HasField(FIELD):
        return answer.SerializeToString(deterministic=True)
    unsigned = type(answer)()
    unsigned.CopyFrom(answer)
    unsigned.ClearField(FIELD)
    return unsigned.SerializeToString(deterministic=True)


def statement(answer: Message, signature: pb.AnswerSignature) -> bytes:
    """The exact bytes signed for an answer and its signature's details."""
    return _frame(LABEL, signature.method.encode("utf-8"), signature.party.encode("utf-8"),
                  signature.request_digest.encode("ascii", "replace"),
                  str(signature.audit_seq).encode("ascii"),
                  signature.signed_at.encode("ascii", "replace"), _body(answer))


def sign_answer(answer: Message, *, signer: Signer, method: str, party: str,
                request_digest: str, audit_seq: int, now: datetime) -> None:
    """Set an answer's ``answer_signature``: the gateway's signature over the answer."""
    details = pb.AnswerSignature(
        algorithm=signer.algorithm, key_id=signer.public.key_id, method=method, party=party,
        request_digest=request_digest, audit_seq=audit_seq, signed_at=rfc3339(now))
    answer.ClearField(FIELD)
    details.signature = signer.sign(statement(answer, details))
    getattr(answer, FIELD).CopyFrom(details)


def verify_answer(answer: Message, key: Verifier, *, method: str | None = None,
                  party: str | None = None, request_digest: str | None = None
                  ) -> pb.AnswerSignature:
    """Check an answer's signature (and, when given, whom and what it answered).

    Raises BadSignature when the answer is unsigned, signed by another key or algorithm,
    altered, or signed for another method, party, request or audit entry than stated.
    """
    if FIELD not in {f.name for f in answer.DESCRIPTOR.fields} or not answer.HasField(FIELD):
        raise BadSignature("the answer is not signed")
    details: pb.AnswerSignature = getattr(answer, FIELD)
    if details.algorithm != key.algorithm or details.key_id != key.key_id:
        raise BadSignature("the answer is signed by another key")
    if details.audit_seq != getattr(answer, "audit_seq", details.audit_seq):
        raise BadSignature("the answer's audit entry differs from the signed one")
    for given, signed in ((method, details.method), (party, details.party),
                          (request_digest, details.request_digest)):
        if given is not None and given != signed:
            raise BadSignature("the answer was signed for another call")
    key.verify(statement(answer, details), details.signature, algorithm=details.algorithm)
    return details


def save_answer(path: Path, answer: Message) -> None:
    """Write an answer as it arrived, for ``credgate verify-answer`` (JSON, base64 bytes)."""
    doc = {"format": SAVED_FORMAT, "type": answer.DESCRIPTOR.full_name,
           "answer": base64.b64encode(answer.SerializeToString()).decode("ascii")}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def load_answer(path: Path) -> Message:
    """Read a saved answer; raises InvalidArgument when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != SAVED_FORMAT:
            raise ValueError
        answer = ANSWER_TYPES[doc["type"]]()
        answer.ParseFromString(base64.b64decode(doc["answer"], validate=True))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error,
            DecodeError):
        raise InvalidArgument("not a saved credgate answer", reason="bad_answer_file") from None
    return answer


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
