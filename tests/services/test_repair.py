"""Credit repair (信用修复) end to end: minimum display period, approver, then out of use."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import grpc
import pytest

from gateway.clock import FixedClock
from gateway.records.lifecycle import REPAIRED
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import (
    audit_entries,
    own_records,
    refused,
    self_consent,
)
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT, POLICIES

STATEMENT = "本人已缴清罚款并完成整改，申请信用修复"


def penalised(live: LiveGateway, severity: str = "general") -> tuple[str, str]:
    """A penalty of ADULT from 2026-11-01 (and one of OTHER_ADULT); the portal consent."""
    live.client("market_regulator").submit_records([
        penalty_record("RP-1", severity, "2026-11-01"),
        penalty_record("RP-2", severity, "2026-11-01", subject=OTHER_ADULT)])
    consent = self_consent(live)
    [record] = own_records(live, consent, category="admin_penalty")
    return consent, record.record_id


def apply(live: LiveGateway, consent: str, record_id: str) -> object:
    return live.client("citizen_portal").apply_repair(ADULT, consent, record_id, STATEMENT)


def test_repair_after_the_minimum_period_takes_the_record_out_of_use(
        live: LiveGateway, clock: FixedClock) -> None:
    consent, record_id = penalised(live)
    licensing = live.client("market_regulator")
    assert not licensing.green_channel(ADULT).eligible
    # General penalty: at least 3 months of display before repair (2027-02-01).
    refused(lambda: apply(live, consent, record_id), grpc.StatusCode.FAILED_PRECONDITION,
            "from 2027-02-01")
    clock.set(datetime.fromisoformat("2027-02-01T08:00:00+00:00"))
    applied = live.client("citizen_portal").apply_repair(ADULT, consent, record_id,
                                                         STATEMENT).repair
    assert (applied.status, applied.approver, applied.statement) == (
        "pending", "market_regulator", STATEMENT)
    [pending] = licensing.list_repairs(status="pending").repairs
    assert pending.repair_id == applied.repair_id and pending.statement == STATEMENT
    # Still shown while pending.
    assert [r.record_id for r in own_records(live, consent, category="admin_penalty")] == [
        record_id]
    decided = licensing.decide_repair(applied.repair_id, approve=True,
                                      reason="已履行处罚决定，符合修复条件").repair
    assert (decided.status, decided.decision_reason) == ("approved", "已履行处罚决定，符合修复条件")
    # From approval: not shown, not counted; kept as evidence.
    assert own_records(live, consent, category="admin_penalty") == []
    assert live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["admin_penalty"]).records == []
    assert licensing.green_channel(ADULT).eligible
    record = live.gw.store.get_record(record_id)
    assert record is not None and (record.state, record.state_ref) == (REPAIRED,
                                                                       applied.repair_id)
    [mine] = live.client("citizen_portal").list_repairs(subject_id=ADULT,
                                                        consent_id=consent).repairs
    assert mine.status == "approved"
    assert [e.decision for e in audit_entries(live, "repair.apply")] == ["deny", "allow"]
    [entry] = audit_entries(live, "repair.decide")
    assert entry.decision == "allow" and "approved" in entry.reason
    assert STATEMENT not in entry.reason and entry.subject_index


def test_a_minor_penalty_may_be_repaired_at_once_and_rejection_keeps_it(
        live: LiveGateway) -> None:
    consent, record_id = penalised(live, "minor")
    applied = live.client("citizen_portal").apply_repair(ADULT, consent, record_id,
                                                         STATEMENT).repair
    live.client("market_regulator").decide_repair(applied.repair_id, approve=False,
                                                  reason="罚款尚未缴清")
    assert [r.record_id for r in own_records(live, consent, category="admin_penalty")] == [
        record_id]
    # A rejected applicant may apply again.
    again = live.client("citizen_portal").apply_repair(ADULT, consent, record_id, STATEMENT)
    assert again.repair.status == "pending"


def test_repair_refusals(live: LiveGateway) -> None:
    consent, record_id = penalised(live, "minor")
    code = grpc.StatusCode
    refused(lambda: live.client("credit_agency").apply_repair(ADULT, consent, record_id,
                                                              STATEMENT),
            code.PERMISSION_DENIED, "citizen portal")
    other = self_consent(live, OTHER_ADULT)
    refused(lambda: live.client("citizen_portal").apply_repair(OTHER_ADULT, other, record_id,
                                                               STATEMENT),
            code.NOT_FOUND)
    refused(lambda: live.client("citizen_portal").apply_repair(ADULT, consent, record_id, ""),
            code.INVALID_ARGUMENT, "statement is required")
    # Court listings end by removal only: no repair through the gateway.
    live.client("court").submit_records([debtor_record("RP-J")])
    [debt] = own_records(live, consent, category="dishonest_debtor")
    refused(lambda: apply(live, consent, debt.record_id), code.FAILED_PRECONDITION,
            "cannot be repaired")
    repair_id = live.client("citizen_portal").apply_repair(ADULT, consent, record_id,
                                                           STATEMENT).repair.repair_id
    refused(lambda: apply(live, consent, record_id), code.FAILED_PRECONDITION, "pending")
    # Only the approver decides; a reason is required.
    for party in ("tax_bureau", "court", "citizen_portal", "regulator"):
        refused(lambda p=party: live.client(p).decide_repair(repair_id, approve=True,
                                                             reason="ok"),
                code.PERMISSION_DENIED, "no repair application")
    refused(lambda: live.client("market_regulator").decide_repair(repair_id, approve=True,
                                                                  reason=" "),
            code.INVALID_ARGUMENT)
    live.client("market_regulator").decide_repair(repair_id, approve=True, reason="符合条件")
    refused(lambda: live.client("market_regulator").decide_repair(repair_id, approve=False,
                                                                  reason="改判"),
            code.FAILED_PRECONDITION, "decided")
    refused(lambda: apply(live, consent, record_id), code.FAILED_PRECONDITION,
            "no longer shown")
    refused(lambda: live.client("credit_agency").list_repairs(), code.PERMISSION_DENIED)
    [seen] = live.client("regulator").list_repairs().repairs
    assert seen.statement == "" and seen.decision_reason == ""


@pytest.fixture
def other_approver(tmp_path: Path) -> Path:
    """The city's policies, but civil affairs decides repairs of administrative penalties."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    catalogue = dest / "catalogue.toml"
    text = catalogue.read_text(encoding="utf-8")
    marker = ('repair.after_months = { minor = 0, general = 3, serious = 12 }\n'
              'repair.approver = "provider"\nfields.person_name')
    assert marker in text
    catalogue.write_text(text.replace(marker, marker.replace('"provider"', '"civil_affairs"')),
                         encoding="utf-8")
    return dest


def test_the_catalogue_may_name_another_approver(
        live_factory: Callable[..., LiveGateway], other_approver: Path) -> None:
    live = live_factory(policies=other_approver)
    consent, record_id = penalised(live, "minor")
    applied = live.client("citizen_portal").apply_repair(ADULT, consent, record_id,
                                                         STATEMENT).repair
    assert applied.approver == "civil_affairs"
    refused(lambda: live.client("market_regulator").decide_repair(
        applied.repair_id, approve=True, reason="ok"), grpc.StatusCode.PERMISSION_DENIED)
    assert [r.repair_id for r in live.client("civil_affairs").list_repairs().repairs] == [
        applied.repair_id]
    live.client("civil_affairs").decide_repair(applied.repair_id, approve=True, reason="符合")
    assert own_records(live, consent, category="admin_penalty") == []

