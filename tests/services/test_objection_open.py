"""While an objection is open its record keeps still: no repair, no removal, and a
correction answers it without reviving an expired record or lengthening its display."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import grpc
import pytest

from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT


def refused(call, reason_text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() in (grpc.StatusCode.FAILED_PRECONDITION,
                                 grpc.StatusCode.INVALID_ARGUMENT)
    assert reason_text in (info.value.details() or "")


def repair_then_objection(live: LiveGateway, source: str
                          ) -> tuple[str, str, str, str]:
    """A minor penalty, a repair applied for, then an objection: (consent, record id,
    repair id, objection id)."""
    live.client("market_regulator").submit_records([penalty_record(source, "minor",
                                                                   "2026-11-01")])
    consent = self_consent(live)
    [record] = own_records(live, consent, category="admin_penalty")
    portal = live.client("citizen_portal")
    pending = portal.apply_repair(ADULT, consent, record.record_id, "已整改").repair
    objection = portal.file_objection(ADULT, consent, record.record_id, "事实有误").objection
    return consent, record.record_id, pending.repair_id, objection.objection_id


def test_no_repair_while_an_objection_is_open(live: LiveGateway) -> None:
    regulator, portal = live.client("market_regulator"), live.client("citizen_portal")
    # A repair applied for before the objection may not be approved while it is open.
    consent, record_id, repair_id, objection_id = repair_then_objection(live, "OO-1")
    refused(lambda: portal.apply_repair(ADULT, consent, record_id, "再次申请"),
            "an objection to this record is open")
    refused(lambda: regulator.decide_repair(repair_id, approve=True, reason="同意"),
            "an objection to this record is open")
    # The department answers; the record is still there to withdraw.
    answered = regulator.answer_objection(objection_id, "withdraw").objection
    assert answered.status == "answered"


def listing_under_objection(live: LiveGateway, source: str) -> tuple[str, str]:
    """A court listing and the person's objection to it: (record id, objection id)."""
    live.client("court").submit_records([debtor_record(source)])
    consent = self_consent(live)
    [record] = own_records(live, consent, category="dishonest_debtor")
    objection = live.client("citizen_portal").file_objection(
        ADULT, consent, record.record_id, "已履行").objection
    return record.record_id, objection.objection_id


def test_no_removal_while_an_objection_is_open(live: LiveGateway) -> None:
    court = live.client("court")
    record_id, objection_id = listing_under_objection(live, "OO-2")
    refused(lambda: court.remove_record(record_id=record_id,
                                        reason="obligation_performed"),
            "an objection to this record is open")
    assert court.answer_objection(objection_id, "withdraw").objection.status == "answered"


def test_a_correction_cannot_revive_or_lengthen_a_record(live: LiveGateway,
                                                         clock: FixedClock) -> None:
    regulator = live.client("market_regulator")
    regulator.submit_records([penalty_record("OO-3", "minor", "2026-09-01")])  # to 11-30
    regulator.submit_records([penalty_record("OO-4", "minor", "2026-11-01")])  # to 2027-01-31
    consent = self_consent(live)
    old, recent = own_records(live, consent, category="admin_penalty")
    portal = live.client("citizen_portal")
    expiring = portal.file_objection(ADULT, consent, old.record_id, "日期有误").objection
    current = portal.file_objection(ADULT, consent, recent.record_id, "程度有误").objection
    # Heavier or later: the display period would run longer than the record's own.
    refused(lambda: regulator.answer_objection(current.objection_id, "correct",
                                               correction=penalty_record("OO-4b", "serious",
                                                                         "2026-11-01")),
            "cannot lengthen the display period")
    refused(lambda: regulator.answer_objection(current.objection_id, "correct",
                                               correction=penalty_record("OO-4c", "minor",
                                                                         "2026-11-20")),
            "cannot move the event later")
    clock.advance(timedelta(days=7))  # 2026-12-05: the first record's period is over
    refused(lambda: regulator.answer_objection(expiring.objection_id, "correct",
                                               correction=penalty_record("OO-3b", "serious",
                                                                         "2026-12-05")),
            "no longer shown or used")
    shown = own_records(live, consent, category="admin_penalty")
    assert [r.record_id for r in shown] == [recent.record_id]  # nothing revived


def test_a_repair_of_a_record_corrected_meanwhile_is_refused_before_any_approval(
        live: LiveGateway) -> None:
    regulator = live.client("market_regulator")
    _consent, _record_id, repair_id, objection_id = repair_then_objection(live, "OO-5")
    regulator.answer_objection(objection_id, "correct",
                               correction=penalty_record("OO-5b", "minor", "2026-11-01"))
    before = live.gw.audit.size()
    refused(lambda: regulator.decide_repair(repair_id, approve=True, reason="同意"),
            "no longer in use")
    entries = [e for _, e in live.gw.audit.read(start=before + 1, limit=10)]
    assert [(e.action, e.decision) for e in entries] == [("repair.decide", "deny")]


def test_a_department_no_longer_in_the_remit_cannot_answer(live: LiveGateway) -> None:
    court = live.client("court")
    _record_id, objection_id = listing_under_objection(live, "OO-6")
    # A later catalogue moves the category to another provider.
    catalogue = live.gw.state.catalogue
    moved = replace(catalogue.categories["dishonest_debtor"], providers=frozenset({"pboc_branch"}))
    live.gw.state = replace(live.gw.state, catalogue=replace(
        catalogue, categories={**catalogue.categories, "dishonest_debtor": moved}))
    with pytest.raises(grpc.RpcError) as info:
        court.answer_objection(objection_id, "withdraw")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
