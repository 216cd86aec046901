"""What a repair application cites: the person's own positive records, by id.

「通过按时履约、志愿服务、慈善捐助等方式修复信用」: a person applying for credit repair
names completed repair training, volunteer service and donations that are already
records (catalogue `repair_evidence`: the categories that may be cited). They are
linked by id, not retyped: each must be a record in use of the same person. The ids,
categories and dates travel with the application's sealed statement, so the approver
sees what was cited.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from gateway.catalogue.registry import Catalogue
from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.keyring import Keyring
from gateway.errors import InvalidArgument
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import IdNumber
from gateway.records.lifecycle import in_use
from gateway.records.store import RecordStore

MAX_EVIDENCE = 10
_FORMAT = "credgate-repair-statement-v1"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A cited positive record: its id, category and event date (nothing personal)."""

    record_id: str
    category: str
    event_date: str


def cited_evidence(ids: Sequence[str], *, subject: IdNumber, catalogue: Catalogue,
                   store: RecordStore, keyring: Keyring, today: date) -> list[Evidence]:
    """The cited records, checked; raises InvalidArgument (one message for every failure,
    never saying whether someone else's record exists)."""
    allowed = catalogue.lifecycle.repair_evidence
    if len(ids) > MAX_EVIDENCE:
        raise InvalidArgument(f"at most {MAX_EVIDENCE} records may be cited")
    problem = InvalidArgument("evidence must name the person's own records in use of "
                              + ", ".join(allowed), reason="evidence_invalid")
    indexes = blind_indexes(keyring, subject.value)
    out: list[Evidence] = []
    for record_id in dict.fromkeys(ids):
        try:
            check_identifier(record_id, what="evidence record id")
        except InvalidArgument:
            raise problem from None
        record = store.get_record(record_id)
        if (record is None or record.category not in allowed or not in_use(record, today)
                or record.subject_index not in indexes):
            raise problem
        out.append(Evidence(record.record_id, record.category, record.event_date.isoformat()))
    return out


def pack_statement(statement: str, evidence: Sequence[Evidence]) -> str:
    """The text sealed as the application's statement: plain when nothing is cited."""
    if not evidence:
        return statement
    return json.dumps({"format": _FORMAT, "statement": statement,
                       "evidence": [[e.record_id, e.category, e.event_date]
                                    for e in evidence]}, ensure_ascii=False)


def unpack_statement(text: str) -> tuple[str, list[Evidence]]:
    """The statement and the cited evidence of a sealed statement (plain text: none)."""
    if not text.startswith("{"):
        return text, []
    try:
        doc = json.loads(text)
    except ValueError:
        return text, []
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        return text, []
    return str(doc["statement"]), [Evidence(*map(str, e)) for e in doc["evidence"]]
