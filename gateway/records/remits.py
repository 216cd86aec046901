"""A provider's remit within a category, and the coded values of fields.

The catalogue lists the providers of each category (no collection without legal
authorisation); some categories narrow that further per field. Honour lists are the
example: the civilisation office (文明办) recommends moral models, the Youth League
(团市委) outstanding volunteers, registered associations and chambers their honest
members. A value outside the provider's remit refuses the record at intake, as does a
value outside a field's codes (catalogue [field_values]: behaviour types, party roles).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.catalogue.registry import Catalogue
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.records.model import RecordSubmission


def check_value_remits(batch: Iterable[RecordSubmission], *, provider: str,
                       catalogue: Catalogue) -> None:
    """Refuse a record whose remit-bound field holds a value outside the provider's remit;
    raises PermissionDenied naming the record index and field, never the value."""
    for record in batch:
        category = catalogue.categories[record.category]
        for fcode, by_provider in category.remits.items():
            value = record.fields.get(fcode)
            if value is None:
                continue
            if value not in by_provider.get(provider, frozenset()):
                raise PermissionDenied(
                    f"record {record.index}: this {fcode} is outside the remit of {provider}",
                    reason="outside_remit")
        for fcode, value in record.fields.items():
            allowed = catalogue.lifecycle.field_values.get(fcode)
            if allowed is not None and value not in allowed:
                raise InvalidArgument(f"record {record.index}: {fcode} must be one of the "
                                      "catalogue's codes", reason="unknown_code")
