"""The fetch step: only records in use leave the store, a county party's of its county."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, cast

from gateway.catalogue.registry import Party
from gateway.records.fetch import records_in_use
from gateway.records.model import StoredRecord
from gateway.records.store import RecordStore
from tests.records.test_lifecycle import TODAY, rec


class _Store:
    """The one store call fetch makes, over a list (the stores' own contract is tested
    in test_store_contract.py)."""

    def __init__(self, records: list[StoredRecord]) -> None:
        self.records = records
        self.asked: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def find_records(self, subject_indexes: Sequence[str], categories: Collection[str],
                     *, archived: bool = False) -> list[StoredRecord]:
        self.asked.append((tuple(subject_indexes), tuple(categories)))
        return [r for r in self.records
                if r.subject_index in subject_indexes and r.category in categories]


def _fetch(records: list[StoredRecord], **kw: Any) -> list[str]:
    store = _Store(records)
    found = records_in_use(cast(RecordStore, store), ["idx"], ["admin_penalty"], TODAY, **kw)
    return [r.record_id for r in found]


def test_only_records_in_use_are_fetched() -> None:
    records = [rec(record_id="live"), rec(record_id="expired", end=date(2026, 11, 27)),
               *(rec(record_id=state, state=state)
                 for state in ("superseded", "withdrawn", "repaired", "removed"))]
    assert _fetch(records) == ["live"]


def test_a_county_party_fetches_its_county_alone() -> None:
    records = [rec(record_id="east", county="510402"), rec(record_id="west", county="510403"),
               rec(record_id="city", county="")]
    county = Party(id="east_bureau", name="", name_zh="", kind="department", roles=(),
                   county="510402")
    city = Party(id="city_bureau", name="", name_zh="", kind="department", roles=())
    assert _fetch(records, reader=county) == ["east"]
    assert _fetch(records, reader=city) == ["east", "west", "city"]
    assert _fetch(records) == ["east", "west", "city"]  # a check counts every county


def test_domains_and_occupations_narrow_when_given() -> None:
    records = [rec(record_id="a", domain="food_safety", occupation="doctor"),
               rec(record_id="b", domain="traffic_safety", occupation="teacher")]
    assert _fetch(records, domains=["food_safety"]) == ["a"]
    assert _fetch(records, occupations=["teacher"]) == ["b"]
    assert _fetch(records, domains=["food_safety"], occupations=["teacher"]) == []
    assert _fetch([replace(records[0], state="withdrawn")], domains=["food_safety"]) == []
