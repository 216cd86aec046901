"""The validate step: remit, codes, sizes, adults-only categories; nothing echoed."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.validate.requests import RawRecord, validate_batch, validate_query
from tests.support import ADULT, TEENAGER

TODAY = date(2026, 11, 28)


def debtor(**overrides: object) -> RawRecord:
    values: dict[str, object] = {
        "subject_id": ADULT, "category": "dishonest_debtor", "severity": "serious",
        "event_date": "2026-05-01", "source_record_id": "case-1",
        "fields": {"debtor_name": "张伟", "case_number": "(2026)执1号",
                   "court_name": "某市中级人民法院", "obligation": "还款"},
    }
    values.update(overrides)
    return RawRecord(**values)  # type: ignore[arg-type]


def validate(catalogue: Catalogue, *records: RawRecord, provider: str = "court") -> object:
    return validate_batch(list(records), provider=catalogue.parties[provider],
                          catalogue=catalogue, today=TODAY)


def test_a_good_record_passes(catalogue: Catalogue) -> None:
    [record] = validate(catalogue, debtor())  # type: ignore[misc]
    assert record.category == "dishonest_debtor" and record.subject.value == ADULT


def test_category_outside_remit_refused_naming_the_index(catalogue: Catalogue) -> None:
    rating = RawRecord(subject_id=ADULT, category="tax_credit_rating",
                       severity="not_applicable", event_date="2026-03-01",
                       source_record_id="t-1",
                       fields={"taxpayer_name": "张伟", "rating": "A", "rating_year": "2025"})
    with pytest.raises(PermissionDenied, match="record 1: category dishonest_debtor is outside"):
        validate(catalogue, rating, debtor(source_record_id="b"), provider="tax_bureau")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"category": "gossip"}, "unknown category"),
        ({"severity": "catastrophic"}, "unknown severity"),
        ({"severity": "minor"}, "severity minor is not allowed"),
        ({"event_date": "2026-13-01"}, "event_date must be a date"),
        ({"event_date": "2027-01-01"}, "future"),
        ({"source_record_id": " "}, "source_record_id is required"),
        ({"source_record_id": "x" * 200}, "longer than"),
        ({"fields": {"debtor_name": "张伟"}}, "required field case_number is empty"),
        ({"fields": {"debtor_name": "张伟", "case_number": "1", "court_name": "c",
                     "obligation": "o", "shoe_size": "42"}}, "unknown field"),
        ({"fields": {"debtor_name": "张" * 65, "case_number": "1", "court_name": "c",
                     "obligation": "o"}}, "debtor_name longer than 64"),
        ({"fields": {"debtor_name": "张\x00伟", "case_number": "1", "court_name": "c",
                     "obligation": "o"}}, "control characters"),
        ({"source_record_id": "a\x1bb"}, "control characters"),
    ],
)
def test_bad_records_refused(catalogue: Catalogue, overrides: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as info:
        validate(catalogue, debtor(**overrides))
    assert ADULT not in str(info.value) and "张伟" not in str(info.value)


def test_bad_id_number_refused_without_echo(catalogue: Catalogue) -> None:
    bad = ADULT[:17] + ("0" if ADULT[17] != "0" else "1")
    with pytest.raises(InvalidArgument, match="record 0: subject_id has a wrong check") as info:
        validate(catalogue, debtor(subject_id=bad))
    assert bad not in str(info.value)


def test_student_integrity_only_for_adults_on_the_event_date(catalogue: Catalogue) -> None:
    record = RawRecord(subject_id=TEENAGER, category="student_integrity", severity="minor",
                       event_date="2026-09-01", source_record_id="s-1",
                       fields={"school": "某市第一中学", "conduct": "考试作弊"})
    with pytest.raises(InvalidArgument, match="aged 18 or more"):
        validate(catalogue, record, provider="education_bureau")
    adult = RawRecord(subject_id=ADULT, category="student_integrity", severity="minor",
                      event_date="2003-09-01", source_record_id="s-2",
                      fields={"school": "某大学", "conduct": "论文抄袭"})
    assert validate(catalogue, adult, provider="education_bureau")


def test_oversized_and_empty_batches_refused(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidArgument, match="no records"):
        validate(catalogue)
    many = [debtor(source_record_id=f"c-{i}") for i in range(catalogue.max_batch + 1)]
    with pytest.raises(InvalidArgument, match="more than"):
        validate(catalogue, *many)


def test_repeated_source_id_in_one_batch_refused(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidArgument, match="record 1: source_record_id repeats record 0"):
        validate(catalogue, debtor(), debtor())


def test_query_codes_checked(catalogue: Catalogue) -> None:
    ok = validate_query(subject_id=ADULT, purpose="cadre_selection", categories=[],
                        consent_id="", catalogue=catalogue, today=TODAY)
    assert set(ok.categories) == set(catalogue.categories)
    for purpose in ("", "curiosity", "submission"):
        with pytest.raises(InvalidArgument, match="purpose"):
            validate_query(subject_id=ADULT, purpose=purpose, categories=[], consent_id="",
                           catalogue=catalogue, today=TODAY)
    with pytest.raises(InvalidArgument, match="unknown category"):
        validate_query(subject_id=ADULT, purpose="awards", categories=["nope"],
                       consent_id="", catalogue=catalogue, today=TODAY)
