"""The demo's rewards section: an honour list published with agreement, incentives checked,
a signed personal credit report verified offline.

Run by gateway.cli.demo_run after the record lifecycle. A volunteer is put on the Youth League's
honour list, the HR bureau and a bank (with the person's consent) ask whether she
qualifies for an incentive (守信激励), the website publishes the entry only once her
agreement is recorded, and she hands an employer a signed report of the categories she
chose, which the employer checks with the gateway's public key alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from gateway.api import pb
from gateway.cli.demo_lifecycle import Refusal, Report
from gateway.client import CredgateClient
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.credit_report import verify_report
from gateway.errors import BadSignature
from gateway.pii.idnumber import make_id_number
from gateway.protect.masking import mask_id_number

# A synthetic volunteer (the name is invented; the ID number is valid but fictitious).
VOLUNTEER = make_id_number("510402", date(1991, 8, 8), 327)


def _honour_feed(website: CredgateClient) -> list[pb.DisclosedRecord]:
    replies = website.disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(categories=["honour_list"]), timeout=30)
    return [r for batch in replies for r in batch.records]


def run_rewards(client: Callable[[str], CredgateClient], now: datetime, *, candidate: str,
                incentive_reads: list[str], report: Report, expect_refusal: Refusal,
                log_pub: Path) -> None:
    """Honour list, publication agreement and the incentive check, as the plan asks."""
    who, cand = mask_id_number(VOLUNTEER), mask_id_number(candidate)
    day = (now - timedelta(days=60)).date().isoformat()
    with client("youth_league") as league, client("civil_affairs") as civil, \
            client("hr_bureau") as hr, client("city_bank") as bank, \
            client("citizen_portal") as portal, client("credit_website") as website:
        league.submit_records([{
            "subject_id": VOLUNTEER, "category": "honour_list", "severity": "not_applicable",
            "event_date": day, "source_record_id": "团市委〔2026〕优秀志愿者12号",
            "fields": {"list_type": "excellent_volunteer", "list_name": "2026年度优秀志愿者",
                       "person_name": "王晓燕", "recommender": "共青团市委",
                       "citation": "王晓燕连续三年参加社区助老服务"}}])
        civil.submit_records([{
            "subject_id": VOLUNTEER, "category": "volunteer_service",
            "severity": "not_applicable", "event_date": day, "source_record_id": "VOL-0731",
            "fields": {"organisation": "市志愿者协会", "hours": "260"}}])
        report("youth_league", f"honour list: {who} as an outstanding volunteer",
               "stored (within its remit: excellent_volunteer)", True)
        expect_refusal("youth_league", "honour list: a moral model (outside its remit)",
                       lambda: league.submit_records([{
                           "subject_id": VOLUNTEER, "category": "honour_list",
                           "severity": "not_applicable", "event_date": day,
                           "source_record_id": "TW-X", "fields": {
                               "list_type": "moral_model", "list_name": "道德模范",
                               "person_name": "王晓燕", "recommender": "共青团市委"}}]))
        before = _honour_feed(website)
        report("credit_website", "honour lists before the person agreed",
               f"{len(before)} published", not before)
        portal.submit_records([{
            "subject_id": VOLUNTEER, "category": "publication_agreement",
            "severity": "not_applicable", "event_date": now.date().isoformat(),
            "source_record_id": "AGREE-0731", "fields": {"agreed_category": "honour_list"}}])
        after = _honour_feed(website)
        shown = after[0].fields.get("person_name", "") if after else ""
        report("credit_website", "honour lists once her agreement is recorded",
               f"{len(after)} published, name shown as {shown}",
               len(after) == 1 and shown.startswith("王") and shown != "王晓燕")
        reply = hr.incentive(VOLUNTEER, "employment_support")
        report("hr_bureau", f"incentive check {who}: employment_support",
               f"eligible={reply.eligible} ({reply.rule_text_zh})", reply.eligible)
        reply = hr.incentive(candidate, "employment_support")
        report("hr_bureau", f"incentive check {cand}: employment_support",
               f"eligible={reply.eligible}", not reply.eligible)
        expect_refusal("city_bank", f"incentive check {who}: credit_loan_discount, no consent",
                       lambda: bank.incentive(VOLUNTEER, "credit_loan_discount",
                                              "incentive_market"))
        consent = portal.issue_consent(
            subject_id=VOLUNTEER, grantee="city_bank", purpose="incentive_market",
            categories=incentive_reads, not_before=now, not_after=now + timedelta(days=7),
            max_uses=1)
        reply = bank.incentive(VOLUNTEER, "credit_loan_discount", "incentive_market",
                               consent_id=consent)
        report("city_bank", f"incentive check {who}: credit_loan_discount, with consent",
               f"eligible={reply.eligible}, granted by {reply.authority_name_zh}",
               reply.eligible)
        # The signed personal credit report: she chooses what an employer sees.
        chosen = ["honour_list", "volunteer_service"]
        own = portal.issue_consent(
            subject_id=VOLUNTEER, grantee="citizen_portal", purpose="self_query",
            categories=chosen, not_before=now, not_after=now + timedelta(days=1), max_uses=1)
        signed = portal.credit_report(VOLUNTEER, own, chosen)
        try:
            shown = verify_report(signed.report, load_verify_key(log_pub),
                                  subject_id=VOLUNTEER)
            got = (f"verified offline: {', '.join(shown.categories)}, "
                   f"{len(shown.records)} record(s)")
            ok = shown.categories == sorted(chosen)
        except BadSignature as exc:
            got, ok = f"does not verify: {exc.message}", False
        report("citizen_portal", f"signed credit report for {who}: {' + '.join(chosen)}",
               got, ok)
