"""The demo's record-lifecycle section: an objection answered by a correction, a repair.

Run by gateway.cli.demo_run before the regulator's export. Each step reports what was asked and
what came back, and whether that is what the rules say should happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.client import CredgateClient
from gateway.protect.masking import mask_id_number

#: (who, asked, got, as expected) -> None
Report = Callable[[str, str, str, bool], None]
Refusal = Callable[[str, str, Callable[[], object]], None]


def _self_consent(c: CredgateClient, subject: str, now: datetime, categories: list[str]) -> str:
    return c.issue_consent(subject_id=subject, grantee="citizen_portal", purpose="self_query",
                           categories=categories, not_before=now,
                           not_after=now + timedelta(days=30), max_uses=10)


def run_lifecycle(client: Callable[[str], CredgateClient], now: datetime, *, borrower: str,
                  candidate: str, categories: list[str], report: Report,
                  expect_refusal: Refusal) -> None:
    """The borrower objects and the court corrects; the candidate's penalty is repaired."""
    who, cand = mask_id_number(borrower), mask_id_number(candidate)
    with client("citizen_portal") as portal, client("court") as court, \
            client("org_department") as org, client("market_regulator") as market:
        # 1. The borrower sees their record through the portal and objects to it.
        consent = _self_consent(portal, borrower, now, categories)
        own = portal.query_subject(borrower, "self_query", consent_id=consent)
        debt = next(r for r in own.records if r.category == "dishonest_debtor")
        filed = portal.file_objection(borrower, consent, debt.record_id,
                                      "借款已于判决前部分归还，金额有误").objection
        report("citizen_portal", f"objection by {who} to {debt.record_id[:12]}…",
               f"filed {filed.objection_id[:12]}…, answer due {filed.due_date}",
               filed.status == "open")
        seen = org.query_subject(borrower, "cadre_selection", categories=["dishonest_debtor"])
        marked = [r.disputed for r in seen.records]
        report("org_department", f"query {who} while the objection is open",
               f"record shown marked disputed={marked}", marked == [True])
        listed = court.list_objections(status="open").objections
        report("court", "list open objections", f"{len(listed)} open, reason shown to it",
               len(listed) == 1 and bool(listed[0].reason))
        # 2. The court corrects the amount: a new version replaces the contested record.
        fields = {f.name: f.value for f in debt.fields}
        fields.update(obligation="归还借款30,000元", amount="30000.00")
        answered = court.answer_objection(
            filed.objection_id, "correct", note="经核实，应还金额更正为30,000元",
            correction={"subject_id": borrower, "category": "dishonest_debtor",
                        "severity": debt.severity, "event_date": debt.event_date,
                        "source_record_id": "(2026)浙01执5678号-更正", "fields": fields}
        ).objection
        report("court", "answer: correct", f"{answered.outcome}, new version "
               f"{answered.new_record_id[:12]}…", answered.outcome == "corrected")
        after = org.query_subject(borrower, "cadre_selection", categories=["dishonest_debtor"])
        ok = ([r.record_id for r in after.records] == [answered.new_record_id]
              and not after.records[0].disputed)
        report("org_department", f"query {who} after the answer",
               "only the corrected version, not disputed; the old one kept as evidence", ok)
        # 3. The candidate's penalty, past its minimum display period, is repaired.
        decided = (now - timedelta(days=120)).date().isoformat()
        market.submit_records([{
            "subject_id": candidate, "category": "admin_penalty", "severity": "general",
            "event_date": decided, "source_record_id": "市监罚〔2026〕88号",
            "domain": "food_drugs", "fields": {
                "person_name": "欧阳明远", "decision_number": "市监罚〔2026〕88号",
                "reason": "未按规定公示食品经营许可", "penalty": "罚款2000元",
                "authority": "市场监督管理局"}}])
        green = market.green_channel(candidate)
        report("market_regulator", f"green channel for {cand}",
               f"{'eligible' if green.eligible else 'not eligible'} ({green.rule_text_zh})",
               not green.eligible)
        consent = _self_consent(portal, candidate, now, categories)
        penalty = next(r for r in portal.query_subject(candidate, "self_query",
                                                       consent_id=consent).records
                       if r.category == "admin_penalty")
        applied = portal.apply_repair(candidate, consent, penalty.record_id,
                                      "罚款已缴清，已完成公示整改").repair
        report("citizen_portal", f"repair of {cand}'s penalty (general, 120 days shown)",
               f"{applied.status}, decided by {applied.approver}", applied.status == "pending")
        approved = market.decide_repair(applied.repair_id, approve=True,
                                        reason="已履行处罚决定并完成整改").repair
        report("market_regulator", "decide the repair", approved.status,
               approved.status == "approved")
        gone = org.query_subject(candidate, "cadre_selection", categories=["admin_penalty"])
        report("org_department", f"query {cand}'s penalties after the repair",
               f"{len(gone.records)} record(s) shown", not gone.records)
        with client("tax_bureau") as tax:
            jp = tax.joint_punishment(candidate, "high_consumption")
            report("tax_bureau", f"joint punishment check {cand}: high_consumption",
                   f"restricted={jp.restricted}, decided by {jp.authority_name_zh}",
                   jp.restricted)
    with client("credit_agency") as agency:
        expect_refusal("credit_agency", f"file an objection for {who}",
                       lambda: agency.file_objection(borrower, consent, debt.record_id, "x"))
