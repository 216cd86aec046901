"""Objections (异议) end to end: filing marks the record, the provider answers, deadlines."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
import pytest

from gateway.catalogue.registry import Catalogue
from gateway.catalogue.rules import LifecycleRules
from gateway.clock import FixedClock
from gateway.records.lifecycle import SUPERSEDED, WITHDRAWN_STATE
from gateway.records.model import StoredRecord
from gateway.records.objections import new_objection
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import (
    audit_entries,
    field,
    own_records,
    refused,
    self_consent,
)
from tests.services.records_data import debtor_record
from tests.support import ADULT, OTHER_ADULT

REASON = "该案已于2026年6月履行完毕，本人欧阳明远不应被列入失信名单"


@pytest.fixture
def contested(live: LiveGateway) -> tuple[LiveGateway, str, str]:
    """A court record of ADULT (and one of OTHER_ADULT), and ADULT's portal consent."""
    live.client("court").submit_records([debtor_record("OB-1"),
                                         debtor_record("OB-2", subject=OTHER_ADULT)])
    consent = self_consent(live)
    [record] = own_records(live, consent, category="dishonest_debtor")
    return live, consent, record.record_id


def file(live: LiveGateway, consent: str, record_id: str, reason: str = REASON) -> Any:
    return live.client("citizen_portal").file_objection(ADULT, consent, record_id, reason)


def correction(**fields: str) -> dict[str, Any]:
    return debtor_record("OB-1-v2", event_date="2026-05-01", **fields)


def test_objection_marks_then_correction_replaces_the_record(
        contested: tuple[LiveGateway, str, str]) -> None:
    live, consent, record_id = contested
    filed = file(live, consent, record_id).objection
    assert (filed.status, filed.record_id, filed.provider) == ("open", record_id, "court")
    assert filed.due_date == "2026-12-18" and not filed.overdue and filed.reason == REASON
    # Queriers see the mark at once.
    [shown] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["dishonest_debtor"]).records
    assert shown.record_id == record_id and shown.disputed
    # The court lists its open objections, with the person's reason, and corrects.
    [listed] = live.client("court").list_objections(status="open").objections
    assert listed.objection_id == filed.objection_id and listed.reason == REASON
    answered = live.client("court").answer_objection(
        filed.objection_id, "correct", note="金额有误，已更正",
        correction=correction(amount="20000.00")).objection
    assert (answered.status, answered.outcome) == ("answered", "corrected")
    assert answered.new_record_id and answered.new_record_id != record_id
    # Only the new version is shown or used, not disputed; the old one is kept as evidence.
    [now_shown] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["dishonest_debtor"]).records
    assert now_shown.record_id == answered.new_record_id and not now_shown.disputed
    assert field(now_shown, "amount") == "20000.00"
    old = live.gw.store.get_record(record_id)
    assert old is not None and (old.state, old.state_ref) == (SUPERSEDED,
                                                              answered.new_record_id)
    new = live.gw.store.get_record(answered.new_record_id)
    assert new is not None and new.replaces == record_id
    # The person sees the outcome and the court's note.
    [mine] = live.client("citizen_portal").list_objections(subject_id=ADULT,
                                                           consent_id=consent).objections
    assert (mine.outcome, mine.answer_note) == ("corrected", "金额有误，已更正")
    # Every step audited, each with the subject's blind index and no reason text.
    for action in ("objection.file", "objection.list", "objection.answer"):
        assert [e.decision for e in audit_entries(live, action)][:1] == ["allow"], action
    [entry] = audit_entries(live, "objection.answer")
    assert entry.subject_index and entry.categories == ("dishonest_debtor",)
    assert "corrected" in entry.reason and REASON not in entry.reason


def test_uphold_clears_the_mark_and_withdraw_removes_the_record(
        contested: tuple[LiveGateway, str, str]) -> None:
    live, consent, record_id = contested
    first = file(live, consent, record_id).objection
    live.client("court").answer_objection(first.objection_id, "uphold", note="经核查属实")
    [shown] = own_records(live, consent, category="dishonest_debtor")
    assert shown.record_id == record_id and not shown.disputed
    second = file(live, consent, record_id, "再次异议").objection
    live.client("court").answer_objection(second.objection_id, "withdraw")
    assert own_records(live, consent, category="dishonest_debtor") == []
    record = live.gw.store.get_record(record_id)
    assert record is not None and record.state == WITHDRAWN_STATE
    assert live.client("court").joint_punishment(ADULT, "high_consumption").restricted is False


def test_only_the_portal_with_the_persons_consent_files(
        contested: tuple[LiveGateway, str, str]) -> None:
    live, consent, record_id = contested
    code = grpc.StatusCode
    refused(lambda: live.client("credit_agency").file_objection(ADULT, consent, record_id,
                                                                REASON),
            code.PERMISSION_DENIED, "citizen portal")
    refused(lambda: live.client("citizen_portal").file_objection(ADULT, "", record_id, REASON),
            code.PERMISSION_DENIED)
    other = self_consent(live, OTHER_ADULT)
    refused(lambda: live.client("citizen_portal").file_objection(ADULT, other, record_id,
                                                                 REASON),
            code.PERMISSION_DENIED, "another person")
    # OTHER_ADULT cannot object to ADULT's record: the same answer as for no record at all.
    refused(lambda: live.client("citizen_portal").file_objection(OTHER_ADULT, other,
                                                                 record_id, REASON),
            code.NOT_FOUND, "no record with this id")
    refused(lambda: live.client("citizen_portal").file_objection(ADULT, consent, "rec-none",
                                                                 REASON),
            code.NOT_FOUND, "no record with this id")
    refused(lambda: file(live, consent, record_id, reason="  "), code.INVALID_ARGUMENT,
            "reason is required")
    refused(lambda: file(live, consent, record_id, reason="x" * 2001), code.INVALID_ARGUMENT)
    file(live, consent, record_id)
    refused(lambda: file(live, consent, record_id), code.FAILED_PRECONDITION, "already open")
    assert {e.reason for e in audit_entries(live, "objection.file")
            if e.decision == "deny"} >= {"not_citizen_portal", "record_unknown",
                                         "consent_subject_mismatch", "objection_open"}


def test_only_the_provider_answers_and_only_once(
        contested: tuple[LiveGateway, str, str]) -> None:
    live, consent, record_id = contested
    objection_id = file(live, consent, record_id).objection.objection_id
    code = grpc.StatusCode
    for party in ("market_regulator", "citizen_portal", "regulator", "credit_agency"):
        refused(lambda p=party: live.client(p).answer_objection(objection_id, "withdraw"),
                code.PERMISSION_DENIED, "no objection with this id")
    court = live.client("court")
    refused(lambda: court.answer_objection(objection_id, "correct"), code.INVALID_ARGUMENT,
            "corrected record")
    refused(lambda: court.answer_objection(objection_id, "uphold", correction=correction()),
            code.INVALID_ARGUMENT)
    refused(lambda: court.answer_objection(
        objection_id, "correct", correction=debtor_record("OB-x", subject=OTHER_ADULT)),
        code.INVALID_ARGUMENT, "same person")
    refused(lambda: court.answer_objection(objection_id, "correct",
                                           correction=debtor_record("OB-1")),
            code.INVALID_ARGUMENT, "new source_record_id")
    refused(lambda: court.answer_objection(objection_id, "correct",
                                           correction=debtor_record("OB-2")),
            code.ALREADY_EXISTS)  # another record's source id: nothing changes
    assert live.gw.store.get_record(record_id).disputed  # type: ignore[union-attr]
    court.answer_objection(objection_id, "uphold")
    refused(lambda: court.answer_objection(objection_id, "withdraw"), code.FAILED_PRECONDITION,
            "has been answered")


def test_listing_is_for_the_person_the_provider_and_regulators(
        contested: tuple[LiveGateway, str, str], clock: FixedClock) -> None:
    live, consent, record_id = contested
    file(live, consent, record_id)
    code = grpc.StatusCode
    refused(lambda: live.client("airline").list_objections(), code.PERMISSION_DENIED)
    # An agency provides market information: it lists objections to its own records only.
    assert live.client("credit_agency").list_objections().objections == []
    refused(lambda: live.client("citizen_portal").list_objections(), code.INVALID_ARGUMENT)
    assert live.client("tax_bureau").list_objections().objections == []
    refused(lambda: live.client("court").list_objections(status="lost"), code.INVALID_ARGUMENT)
    # On its due date the objection is not yet overdue; the day after it is.
    clock.advance(timedelta(days=20))
    assert live.client("regulator").list_objections(overdue_only=True).objections == []
    clock.advance(timedelta(days=1))
    [late] = live.client("regulator").list_objections(overdue_only=True).objections
    assert late.overdue and late.record_id == record_id
    assert late.reason == "" and late.answer_note == ""  # regulators never get the texts
    [own] = live.client("court").list_objections(overdue_only=True).objections
    assert own.overdue and own.reason == REASON


def test_the_reason_is_never_in_clear_at_rest_in_the_audit_or_the_logs(
        contested: tuple[LiveGateway, str, str]) -> None:
    live, consent, record_id = contested
    objection_id = file(live, consent, record_id).objection.objection_id
    live.client("court").answer_objection(objection_id, "uphold", note="维持原记录：欧阳明远")
    data_dir = live.gw.config.data_dir
    for name in ("records.db", "audit.db"):
        for path in data_dir.glob(f"{name}*"):
            raw = path.read_bytes()
            assert REASON.encode() not in raw and "欧阳明远".encode() not in raw, path
    with sqlite3.connect(data_dir / "records.db") as conn:
        (sealed,) = conn.execute("SELECT reason_ct FROM objections").fetchone()
    assert REASON.encode() not in bytes(sealed)
    assert not any(REASON in r.getMessage() for r in live.logs.records)


def test_the_answer_period_comes_from_the_catalogue(catalogue: Catalogue) -> None:
    from datetime import UTC, date, datetime

    shorter = replace(catalogue, lifecycle=replace(catalogue.lifecycle,
                                                   objection_answer_days=5))
    record = StoredRecord(record_id="rec-1", provider="court", source_record_id="s",
                          subject_index="idx", subject_ciphertext=b"", category="dishonest_debtor",
                          severity="serious", event_date=date(2026, 1, 1), display_end=None,
                          submitted_at="", submission_digest="")
    from gateway.crypto.fields import FieldCipher
    from gateway.crypto.keyring import load_keyring
    from tests.support import KEYS

    cipher = FieldCipher(load_keyring(KEYS))
    now = datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert new_objection(record, reason="r", catalogue=shorter, cipher=cipher,
                         now=now).due_date == "2026-12-03"
    assert new_objection(record, reason="r", catalogue=catalogue, cipher=cipher,
                         now=now).due_date == "2026-12-18"
    assert LifecycleRules().objection_answer_days == 20


def test_no_objection_to_a_record_out_of_use(live: LiveGateway, clock: FixedClock) -> None:
    from tests.services.records_data import penalty_record

    reply = live.client("market_regulator").submit_records(
        [penalty_record("OX-1", "minor", "2026-10-01")])  # shown until 2026-12-31
    record_id = reply.results[0].record_id
    consent = self_consent(live)
    clock.advance(timedelta(days=34))
    refused(lambda: file(live, consent, record_id), grpc.StatusCode.FAILED_PRECONDITION,
            "no longer shown")
    # Nor to the old version of a corrected record.
    live.client("court").submit_records([debtor_record("OX-J")])
    [debt] = own_records(live, consent, category="dishonest_debtor")
    objection_id = file(live, consent, debt.record_id).objection.objection_id
    live.client("court").answer_objection(objection_id, "correct",
                                          correction=debtor_record("OX-J-2"))
    refused(lambda: file(live, consent, debt.record_id), grpc.StatusCode.FAILED_PRECONDITION)
