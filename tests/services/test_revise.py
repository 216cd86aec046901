"""Departments keep their own records current: correct or withdraw, with a reason code,
the old version kept, the change audited."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import grpc

from gateway.crypto.blind_index import blind_indexes
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, POLICIES


def _versions(live: LiveGateway, category: str) -> dict[str, str]:
    indexes = blind_indexes(live.gw.keyring, ADULT)
    return {r.source_record_id: r.state
            for r in live.gw.store.find_records(indexes, [category], archived=True)}


def test_a_department_corrects_and_withdraws_its_own_records(live: LiveGateway) -> None:
    market = live.client("market_regulator")
    market.submit_records([penalty_record("REV-1", "serious", "2026-10-01"),
                           penalty_record("REV-2", "general", "2026-10-02")])
    # A court changed the decision: the penalty is now general, under a new decision number.
    fixed = penalty_record("REV-1-变更", "general", "2026-10-01")
    reply = market.revise_record(source_record_id="REV-1", reason="changed_by_court",
                                 correction=fixed)
    assert reply.new_record_id and reply.audit_seq > 0
    # Entered in error: withdrawn.
    market.revise_record(source_record_id="REV-2", reason="entered_in_error")
    shown = live.client("org_department").query_subject(ADULT, "cadre_selection",
                                                        categories=["admin_penalty"])
    assert [(r.record_id, r.severity) for r in shown.records] == [(reply.new_record_id,
                                                                   "general")]
    # The old versions stay as evidence.
    assert _versions(live, "admin_penalty") == {"REV-1": "superseded", "REV-2": "withdrawn",
                                                "REV-1-变更": "active"}
    reasons = [e.reason for e in audit_entries(live, "record.revise")]
    assert any("changed_by_court" in r and "corrected by" in r for r in reasons)
    assert any(r.endswith("withdrawn: entered_in_error") for r in reasons)


def test_only_the_provider_with_a_reason_and_never_past_an_objection(
        live: LiveGateway) -> None:
    code = grpc.StatusCode
    live.client("court").submit_records([debtor_record("REV-J")])
    court = live.client("court")
    refused(lambda: live.client("market_regulator").revise_record(
        source_record_id="REV-J", reason="entered_in_error"), code.PERMISSION_DENIED)
    refused(lambda: court.revise_record(source_record_id="REV-J", reason="felt_like_it"),
            code.INVALID_ARGUMENT, "reason must be one of")
    # A correction may not move the record to another person or category.
    other = penalty_record("REV-X", "general", "2026-10-01")
    refused(lambda: court.revise_record(source_record_id="REV-J", reason="entered_in_error",
                                        correction=other), code.PERMISSION_DENIED)
    # Under an open objection, only the objection's answer changes the record.
    consent = self_consent(live)
    [record] = live.client("citizen_portal").query_subject(
        ADULT, "self_query", consent_id=consent, categories=["dishonest_debtor"]).records
    live.client("citizen_portal").file_objection(ADULT, consent, record.record_id,
                                                 "这条记录不是我的")
    refused(lambda: court.revise_record(source_record_id="REV-J", reason="entered_in_error"),
            code.FAILED_PRECONDITION)
    assert _versions(live, "dishonest_debtor") == {"REV-J": "active"}


def test_without_revision_reasons_in_the_catalogue_nothing_is_revised(
        live_factory: Callable[..., LiveGateway], tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    catalogue = policies / "catalogue.toml"
    text = catalogue.read_text(encoding="utf-8")
    start = text.index("[revision_reasons]")
    end = text.index("\n\n", start)
    catalogue.write_text(text[:start] + text[end:], encoding="utf-8")
    live = live_factory(policies=policies)
    market = live.client("market_regulator")
    market.submit_records([penalty_record("NR-1", "general", "2026-10-01")])
    refused(lambda: market.revise_record(source_record_id="NR-1", reason="entered_in_error"),
            grpc.StatusCode.INVALID_ARGUMENT, "reason must be one of")
    [entry] = audit_entries(live, "record.revise")
    assert (entry.decision, entry.reason) == ("deny", "unknown_reason")
