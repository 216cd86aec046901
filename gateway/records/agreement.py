"""The person's agreement to the publication of their positive records (公示同意).

Honour lists and positive typical cases are public only with the person's recorded
agreement (catalogue.toml `publish_with_agreement`). The citizen portal records it as a
`publication_agreement` record naming the category; removing that record withdraws it.
The feed asks `agreed` for each record of such a category, and leaves out the rest.
"""

from __future__ import annotations

from datetime import date

from gateway.catalogue.registry import Category
from gateway.records.lifecycle import in_use
from gateway.records.model import StoredRecord
from gateway.records.store import RecordStore

AGREEMENT_CATEGORY = "publication_agreement"
AGREED_FIELD = "agreed_category"


def needs_agreement(category: Category) -> bool:
    """Whether the feed may publish a record of the category only with an agreement."""
    return category.publish_with_agreement


def agreed(store: RecordStore, record: StoredRecord, today: date) -> bool:
    """Whether an agreement in use, of the record's subject, names the record's category."""
    for agreement in store.find_records([record.subject_index], [AGREEMENT_CATEGORY]):
        named = agreement.fields.get(AGREED_FIELD)
        if in_use(agreement, today) and named is not None and named.plain == record.category:
            return True
    return False
