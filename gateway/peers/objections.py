"""Objections against records received from a peer: forwarded to the record's origin.

A received record is read-only here; only its origin answers for it. The person's
objection is filed at the origin (PeerService.ForwardObjection, signed, as this
platform), where the record's provider answers it within the origin's deadline, and is
kept here under the origin's objection id, so the record shows disputed at once and the
person lists it as any other. The origin's answer comes back when the person lists
their objections: each open forwarded one is asked about (PeerService.ObjectionStatus)
and, once answered there, settled here with the outcome and the provider's note.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

import grpc

from gateway.clock import rfc3339
from gateway.crypto.fields import FieldCipher
from gateway.errors import BadSignature, ConfigurationError, PeerUnavailable
from gateway.peers.ask import PeerLinks
from gateway.records.lifecycle_rows import OPEN, ObjectionRow
from gateway.records.model import StoredRecord
from gateway.records.objections import seal_text
from gateway.records.store import RecordStore

_log = logging.getLogger("credgate.peers")
#: Seconds a forward or a status question may take before the person is told to retry.
PEER_CALL_TIMEOUT_S = 10.0


def forward_objection(links: PeerLinks, record: StoredRecord, *, subject_id: str,
                      reason: str, cipher: FieldCipher, now: datetime) -> ObjectionRow:
    """File the objection at the record's origin; the row to keep here. Raises
    PeerUnavailable when the origin cannot be reached or its answer does not verify."""
    try:
        reply = links.client(record.origin).forward_objection(
            record.source_record_id, subject_id, reason, timeout=PEER_CALL_TIMEOUT_S)
    except (grpc.RpcError, BadSignature, ConfigurationError) as exc:
        _log.warning("forwarding an objection to %s failed: %s", record.origin,
                     type(exc).__name__)
        raise PeerUnavailable("the record's origin platform did not take the objection; "
                              "try again later", reason="origin_unavailable") from None
    remote = reply.objection
    objection_id = f"obj-{uuid.uuid4()}"
    return ObjectionRow(
        objection_id=objection_id, record_id=record.record_id, provider=record.provider,
        category=record.category, subject_index=record.subject_index, filed_at=rfc3339(now),
        due_date=remote.due_date,
        reason_ciphertext=seal_text(cipher, objection_id, "reason", reason),
        origin_objection_id=remote.objection_id)


def settle_answered(links: PeerLinks, store: RecordStore, cipher: FieldCipher,
                    rows: Sequence[ObjectionRow]) -> list[ObjectionRow]:
    """The rows, each open forwarded one settled with its origin's answer when there is
    one. An origin that does not answer leaves its objection open (asked again later)."""
    out: list[ObjectionRow] = []
    for row in rows:
        if row.status != OPEN or not row.origin_objection_id:
            out.append(row)
            continue
        try:
            remote = links.client(row.provider).objection_status(
                row.origin_objection_id, timeout=PEER_CALL_TIMEOUT_S).objection
        except (grpc.RpcError, BadSignature, ConfigurationError) as exc:
            _log.warning("asking %s about an objection failed: %s", row.provider,
                         type(exc).__name__)
            out.append(row)
            continue
        if remote.status == OPEN:
            out.append(row)
            continue
        out.append(store.settle_forwarded_objection(
            row.objection_id, outcome=remote.outcome, at=remote.answered_at,
            by=row.provider,
            answer_ciphertext=seal_text(cipher, row.objection_id, "answer",
                                        remote.answer_note) if remote.answer_note else b""))
    return out

