"""SubmitRecords end to end: remit, atomic batches, idempotency, the audit of each call."""

from __future__ import annotations

import grpc
import pytest

from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, tax_record
from tests.support import ADULT, TEENAGER


def test_court_submits_and_replay_is_idempotent(live: LiveGateway) -> None:
    court = live.client("court")
    first = court.submit_records([debtor_record("A-1"), debtor_record("A-2")])
    assert [r.created for r in first.results] == [True, True]
    again = court.submit_records([debtor_record("A-1"), debtor_record("A-3")])
    assert [r.created for r in again.results] == [False, True]
    assert again.results[0].record_id == first.results[0].record_id


def test_changed_content_under_same_source_id_refused(live: LiveGateway) -> None:
    court = live.client("court")
    court.submit_records([debtor_record("A-1")])
    with pytest.raises(grpc.RpcError) as info:
        court.submit_records([debtor_record("A-9"), debtor_record("A-1", amount="1.00")])
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "record 1" in info.value.details()
    # Nothing of the refused batch was stored: A-9 is new on the next try.
    assert court.submit_records([debtor_record("A-9")]).results[0].created


def test_one_bad_record_stores_nothing_and_names_the_index(live: LiveGateway) -> None:
    court = live.client("court")
    bad = debtor_record("B-2", subject=ADULT[:17] + ("1" if ADULT[17] == "0" else "0"))
    with pytest.raises(grpc.RpcError) as info:
        court.submit_records([debtor_record("B-1"), bad])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "record 1" in info.value.details()
    assert ADULT[:17] not in info.value.details()
    assert court.submit_records([debtor_record("B-1")]).results[0].created


def test_category_outside_remit_refused(live: LiveGateway) -> None:
    with pytest.raises(grpc.RpcError) as info:
        live.client("court").submit_records([tax_record()])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "outside the remit" in info.value.details()


def test_credit_agency_cannot_submit_anything(live: LiveGateway) -> None:
    with pytest.raises(grpc.RpcError) as info:
        live.client("credit_agency").submit_records([debtor_record("C-1")])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_student_integrity_of_a_minor_refused(live: LiveGateway) -> None:
    record = {"subject_id": TEENAGER, "category": "student_integrity", "severity": "minor",
              "event_date": "2026-09-01", "source_record_id": "EDU-1",
              "fields": {"school": "某市第一中学", "conduct": "考试作弊"}}
    with pytest.raises(grpc.RpcError) as info:
        live.client("education_bureau").submit_records([record])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "aged 18 or more" in info.value.details()


def test_every_submission_is_audited_allowed_or_refused(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("D-1")])
    with pytest.raises(grpc.RpcError):
        live.client("court").submit_records([tax_record()])
    entries = [e for _, e in live.gw.audit.read(start=1, limit=100)]
    assert [(e.action, e.requester, e.decision) for e in entries] == [
        ("records.submit", "court", "allow"), ("records.submit", "court", "deny")]
    assert entries[0].categories == ("dishonest_debtor",) and entries[0].record_count == 1
    assert "policy.csv" in entries[0].policy_rule
    assert entries[1].reason == "outside_remit"
