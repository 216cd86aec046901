"""The fetch step: a person's records that may be used now, found by blind index.

Every path that answers about a person (QuerySubject, the checks, the credit report)
fetches here, so that one rule decides what leaves the store: only records in use
(gateway/records/lifecycle.py: the live version, within its display period), and for
a county party only its county's (gateway/catalogue/counties.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from gateway.catalogue.counties import in_county_scope
from gateway.catalogue.registry import Party
from gateway.records.lifecycle import in_use
from gateway.records.model import StoredRecord
from gateway.records.store import RecordStore


def records_in_use(store: RecordStore, indexes: Sequence[str], categories: Collection[str],
                   today: date, *, reader: Party | None = None,
                   domains: Collection[str] = (), occupations: Collection[str] = ()
                   ) -> list[StoredRecord]:
    """The subject's records in these categories that are in use on ``today``.

    ``reader`` limits a county party to its county (None: every county, as the checks
    count); ``domains`` and ``occupations``, when given, keep only records of those.
    """
    return [r for r in store.find_records(indexes, categories)
            if in_use(r, today)
            and (reader is None or in_county_scope(reader, r.county))
            and (not domains or r.domain in domains)
            and (not occupations or r.occupation in occupations)]
