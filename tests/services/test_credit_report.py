"""The signed personal credit report: chosen categories, signed, verified offline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from nacl.signing import SigningKey

from gateway.cli import main
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.credit_report import report_document, sign_report, verify_report
from gateway.errors import BadSignature
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused, self_consent
from tests.services.records_data import NAME, debtor_record, identity_record
from tests.services.test_incentives import volunteer_record
from tests.support import ADULT, KEYS, OTHER_ADULT

LOG_PUB = KEYS / "gateway.log.pub"
CHOSEN = ["volunteer_service", "dishonest_debtor"]


def _load(live: LiveGateway) -> str:
    live.client("court").submit_records([debtor_record("RPT-1")])
    live.client("public_security").submit_records([identity_record()])
    live.client("civil_affairs").submit_records([volunteer_record()])
    return self_consent(live)


def test_the_report_shows_exactly_the_chosen_categories_and_verifies_offline(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consent = _load(live)
    reply = live.client("citizen_portal").credit_report(ADULT, consent, CHOSEN)
    report = verify_report(reply.report, load_verify_key(LOG_PUB), subject_id=ADULT)
    assert report.categories == sorted(CHOSEN)
    assert sorted(r["category"] for r in report.records) == sorted(CHOSEN)
    debt = next(r for r in report.records if r["category"] == "dishonest_debtor")
    assert debt["fields"]["debtor_name"] == NAME and debt["provider_name_zh"] == "中级人民法院"
    # The identity record was not chosen: nothing of it, and no ID number in clear.
    assert "identity" not in reply.report.decode() and ADULT not in reply.report.decode()
    with pytest.raises(BadSignature, match="another person"):
        verify_report(reply.report, load_verify_key(LOG_PUB), subject_id=OTHER_ADULT)
    # Audited before it left, and shown in the person's own access report.
    [entry] = audit_entries(live, "subject.credit_report")
    assert entry.categories == tuple(sorted(CHOSEN)) and entry.decision == "allow"
    assert reply.report_id in entry.reason
    access = live.client("citizen_portal").subject_access_report(ADULT, consent)
    assert "self_query" in {e.purpose for e in access.events}
    # The receiver's command line: verified (0), tampered (1), broken input (2).
    path = tmp_path / "report.json"
    path.write_bytes(reply.report)
    assert main(["report", "verify", str(path), "--key", str(LOG_PUB)]) == 0
    shown = capsys.readouterr().out
    assert "dishonest_debtor, volunteer_service" in shown and "失信被执行人" in shown
    outer = json.loads(reply.report)
    outer["document"] = outer["document"].replace("市志愿者协会", "市红十字会")
    path.write_text(json.dumps(outer), encoding="utf-8")
    assert main(["report", "verify", str(path), "--key", str(LOG_PUB)]) == 1
    assert "does NOT verify" in capsys.readouterr().err
    assert main(["report", "verify", str(path), "--key", str(tmp_path / "none.pub")]) == 2


def test_a_signature_from_another_key_or_a_smuggled_category_fails() -> None:
    doc = report_document(report_id="rpt-x", issued_at="2026-11-28T09:00:00Z",
                          subject_id=ADULT, masked_id="3301**", categories=["honour"],
                          records=[{"category": "dishonest_debtor"}], policy_version="v")
    key = SigningKey.generate()
    with pytest.raises(BadSignature):
        verify_report(sign_report(doc, key), load_verify_key(LOG_PUB))
    # Even correctly signed, a record of a category the person did not choose fails.
    with pytest.raises(BadSignature, match="did not choose"):
        verify_report(sign_report(doc, key), key.verify_key)
    with pytest.raises(BadSignature, match="not a credgate"):
        verify_report(b"{}", load_verify_key(LOG_PUB))


def test_only_the_portal_with_a_covering_consent_gets_a_report(live: LiveGateway) -> None:
    code = grpc.StatusCode
    consent = _load(live)
    refused(lambda: live.client("credit_agency").credit_report(ADULT, consent, CHOSEN),
            code.PERMISSION_DENIED, "portal")
    portal = live.client("citizen_portal")
    everything = self_consent(live)
    now = live.gw.clock.now()
    honours_only = portal.issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=["honour"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=1), max_uses=5)
    refused(lambda: portal.credit_report(ADULT, honours_only, CHOSEN), code.PERMISSION_DENIED)
    refused(lambda: portal.credit_report(OTHER_ADULT, everything, CHOSEN), code.PERMISSION_DENIED)
    refused(lambda: portal.credit_report(ADULT, everything, []), code.INVALID_ARGUMENT)
    refused(lambda: portal.credit_report(ADULT, everything, ["gossip"]), code.INVALID_ARGUMENT,
            "unknown category")
    denied = {e.reason for e in audit_entries(live, "subject.credit_report")
              if e.decision == "deny"}
    assert {"not_citizen_portal", "consent_category_mismatch",
            "consent_subject_mismatch"} <= denied
