"""The intake rules beyond the catalogue's field checks, in one place for every path that
stores a record: a submission, and a correction (an objection's answer or ReviseRecord).

A provider's remit within a field (honour lists), coded values (behaviours, party roles),
citations of the same person's records (commitments, statements, evidence),
complaints naming an access of the person's own report, and answers to extension
applications from the department whose record the application is about. A correction
goes through the same rules, so it can never carry what a submission could not.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.clock import city_today
from gateway.records.answered_once import check_answered_once
from gateway.records.citations import check_citations
from gateway.records.complaints import ReadEntry, check_complaints
from gateway.records.extensions import check_extension_answers
from gateway.records.model import RecordSubmission
from gateway.records.remits import check_value_remits
from gateway.services.common import CallFrame


def check_intake_rules(call: CallFrame, batch: Sequence[RecordSubmission],
                       provider: str) -> None:
    """Refuse a batch that breaks a remit, a code list, a citation, a complaint or an answer rule;
    raises PermissionDenied or InvalidArgument naming the record index."""
    gw = call.gw
    check_value_remits(batch, provider=provider, catalogue=call.catalogue)
    check_citations(batch, catalogue=call.catalogue, store=gw.store, keyring=gw.keyring,
                    today=city_today(gw.clock), provider=provider)
    check_complaints(batch, read_entry=ReadEntry(gw.audit.read), keyring=gw.keyring)
    check_extension_answers(batch, provider=provider, store=gw.store,
                            today=city_today(gw.clock))
    check_answered_once(batch, provider=provider, store=gw.store, keyring=gw.keyring,
                        today=city_today(gw.clock))
