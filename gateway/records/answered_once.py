"""Records that answer another record once: a department's answer to an extension
application (申请延期), the regulator's answer to a complaint (投诉).

One rule for every way an answer comes in (its own RPC or a plain SubmitRecords): at
intake a second answer to the same record is refused (`check_answered_once`), and since
two calls may pass that check at once, each answer a call stores is staged
(`answer_changes`): its change takes the answered record until the call's allow entry
and makes the answer live only while no other answer to it is (records/sql_changes.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.keyring import Keyring
from gateway.errors import FailedPrecondition
from gateway.records.changes import Change, answer_once
from gateway.records.lifecycle import in_use
from gateway.records.model import RecordSubmission, StoredRecord
from gateway.records.store import RecordStore

#: Each answer category and the field naming the record it answers.
ANSWERS_ONCE: Mapping[str, str] = {
    "extension_answer": "application_record_id",
    "complaint_answer": "complaint_record_id",
}


def answered_by(record: StoredRecord) -> str:
    """The id of the record this one answers ("" when it answers none)."""
    name = ANSWERS_ONCE.get(record.category)
    value = record.fields.get(name) if name else None
    return (value.plain or "") if value is not None else ""


def already_answered(category: str, where: str = "") -> FailedPrecondition:
    """The refusal of a second answer (reason `extension_answered`, `complaint_answered`)."""
    kind = category.removesuffix("_answer")
    return FailedPrecondition(f"{where}the {kind} has been answered",
                              reason=f"{kind}_answered")


def check_answered_once(batch: Iterable[RecordSubmission], *, provider: str,
                        store: RecordStore, keyring: Keyring, today: date) -> None:
    """Refuse an answer to a record already answered (in use), or answered twice in one
    batch; the same answer sent again (same provider and source id) is no second one.
    Raises FailedPrecondition naming the index."""
    seen: set[tuple[str, str]] = set()
    for record in batch:
        name = ANSWERS_ONCE.get(record.category)
        if name is None:
            continue
        target = record.fields.get(name, "")
        answered = [a for a in store.find_records(blind_indexes(keyring, record.subject.value),
                                                  [record.category])
                    if in_use(a, today) and answered_by(a) == target
                    and (a.provider, a.source_record_id) != (provider,
                                                             record.source_record_id)]
        if answered or (record.category, target) in seen:
            raise already_answered(record.category, f"record {record.index}: ")
        seen.add((record.category, target))


def answer_changes(stored: Sequence[StoredRecord], record_ids: Sequence[str]
                   ) -> list[Change[None]]:
    """The changes that make the answers among a call's records live (``record_ids``: as
    the store kept each, in order): each takes the answered record until the call's
    allow entry and goes live only while no other answer to it is."""
    return [answer_once(answered_by(record), record_id)
            for record, record_id in zip(stored, record_ids, strict=True)
            if record.category in ANSWERS_ONCE]
