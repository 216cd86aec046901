"""Records that cite other records of the same person by id, not by retyping them.

A broken credit commitment (违背信用承诺) cites the commitment it breaks; a personal
statement (自主解释) or an extension application (申请延期) cites the record it is
about. The catalogue says which field holds the cited id and which categories it may
cite (`cites.<field> = [categories]`, or ["*"] for any record). At intake the cited
record must exist, belong to the same person and be in use, or the batch is refused
with one message for every failure (it never tells whether someone else's record exists).
A category marked `cites_own` may cite only the citing department's own records: a
broken commitment is recorded by the department the promise was made to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from gateway.catalogue.registry import Catalogue
from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.keyring import Keyring
from gateway.errors import InvalidArgument
from gateway.pii.identifiers import check_identifier
from gateway.records.lifecycle import in_use
from gateway.records.model import RecordSubmission
from gateway.records.store import RecordStore

ANY = "*"


def check_citations(batch: Iterable[RecordSubmission], *, catalogue: Catalogue,
                    store: RecordStore, keyring: Keyring, today: date,
                    provider: str) -> None:
    """Refuse a record whose cited record is not a record in use of the same person, of a
    category the field may cite (and, where the category says cites_own, one the citing
    ``provider`` provided); raises InvalidArgument naming the index and field."""
    for record in batch:
        category = catalogue.categories[record.category]
        for fcode, allowed in category.cites.items():
            value = record.fields.get(fcode)
            if value is None:
                continue
            own = " that the caller provided" if category.cites_own else ""
            problem = InvalidArgument(
                f"record {record.index}: {fcode} must name a record in use of the same "
                f"person{own} ({', '.join(allowed)})", reason="citation_invalid")
            try:
                check_identifier(value, what=fcode)
            except InvalidArgument:
                raise problem from None
            cited = store.get_record(value)
            if (cited is None or not in_use(cited, today)
                    or (ANY not in allowed and cited.category not in allowed)
                    or cited.category == record.category
                    or (category.cites_own and cited.provider != provider)
                    or cited.subject_index not in blind_indexes(keyring, record.subject.value)):
                raise problem
