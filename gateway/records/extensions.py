"""Extension applications (申请延期) and the providing department's answer.

A person asks, through the citizen portal, for more time to meet an obligation a record
states (an `extension_application` citing a court listing, a penalty, a tax case or a
commitment). The department that provided that record lists the applications about its
records and answers each once, granted until a date or refused: an `extension_answer`
record of the person citing the application, built by the gateway on the department's
behalf (ExtensionService) or submitted by the department itself. Either way the same
rules hold (`check_extension_answers`): only the provider of the record the application
is about answers, a grant names its date, and an application is answered once. The
answer goes with the application to whoever may see the record (protect/attachments).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.records.lifecycle import in_use
from gateway.records.model import RecordSubmission, StoredRecord
from gateway.records.store import RecordStore

APPLICATION = "extension_application"
ANSWER = "extension_answer"
ABOUT_FIELD = "about_record_id"
APPLICATION_FIELD = "application_record_id"
OUTCOME_FIELD = "outcome"
UNTIL_FIELD = "granted_until"
GRANTED = "granted"
REFUSED = "refused"
OUTCOMES = {GRANTED: "准予延期", REFUSED: "不予延期"}


@dataclass(frozen=True, slots=True)
class ExtensionStatus:
    """An application as its deciding department lists it (the statement apart)."""

    application: StoredRecord
    about: StoredRecord
    outcome: str = ""  # "" while unanswered
    granted_until: str = ""


def plain(record: StoredRecord, name: str) -> str:
    """A field kept in clear, or "" when the record has none."""
    value = record.fields.get(name)
    return (value.plain or "") if value is not None else ""


def _pages(store: RecordStore, category: str) -> Iterator[StoredRecord]:
    after = ""
    while page := store.records_in_categories([category], after=after, limit=500):
        yield from page
        after = page[-1].record_id


def answers_of(records: Iterable[StoredRecord], today: date) -> dict[str, StoredRecord]:
    """The answers in use among ``records``, by the application they answer."""
    return {plain(r, APPLICATION_FIELD): r for r in records
            if r.category == ANSWER and in_use(r, today)}


def extension_statuses(store: RecordStore, provider: str, today: date
                       ) -> list[ExtensionStatus]:
    """The applications in use about records in use of ``provider``, with their answers."""
    answers = answers_of(_pages(store, ANSWER), today)
    out = []
    for application in _pages(store, APPLICATION):
        about = store.get_record(plain(application, ABOUT_FIELD))
        if (about is None or about.provider != provider or not in_use(application, today)
                or not in_use(about, today)):
            continue
        answer = answers.get(application.record_id)
        out.append(ExtensionStatus(
            application=application, about=about,
            outcome=plain(answer, OUTCOME_FIELD) if answer else "",
            granted_until=plain(answer, UNTIL_FIELD) if answer else ""))
    return out


def check_extension_answers(batch: Sequence[RecordSubmission], *, provider: str,
                            store: RecordStore, today: date) -> None:
    """Refuse an answer from anyone but the provider of the record the application is
    about (one refusal whatever the reason, so nothing is learnt of others' records), a
    grant without its date or a refusal with one; raises PermissionDenied,
    InvalidArgument or FailedPrecondition naming the index (a second answer to an
    application: records/answered_once.py).
    The application itself was checked as a citation (the same person's, in use)."""
    for record in batch:
        if record.category != ANSWER:
            continue
        cited = record.fields.get(APPLICATION_FIELD, "")
        application = store.get_record(cited)
        about = (store.get_record(plain(application, ABOUT_FIELD))
                 if application is not None and application.category == APPLICATION else None)
        if about is None or about.provider != provider:
            raise PermissionDenied(f"record {record.index}: only the department that provided "
                                   "the record may answer an extension application about it",
                                   reason="not_provider")
        if not in_use(about, today):
            raise FailedPrecondition(f"record {record.index}: the record the application is "
                                     "about is no longer in use", reason="record_not_active")
        outcome, until = record.fields.get(OUTCOME_FIELD, ""), record.fields.get(UNTIL_FIELD)
        if (outcome == GRANTED) != bool(until):
            raise InvalidArgument(f"record {record.index}: a grant names granted_until, a "
                                  "refusal does not", reason="extension_answer_invalid")
        if until and date.fromisoformat(until) < today:
            raise InvalidArgument(f"record {record.index}: granted_until is in the past",
                                  reason="extension_answer_invalid")
