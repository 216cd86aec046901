"""Extension applications (申请延期) reach the department that provided the record, which
grants (until a date) or refuses each once; the answer goes with the record."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.api import pb
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, own_records, refused, self_consent
from tests.services.records_data import NAME, debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT
from tests.threads import run_together


def application(about: str, source: str, subject: str = ADULT,
                until: str = "2027-03-31") -> dict[str, Any]:
    """The person's application, through the portal."""
    return {"subject_id": subject, "category": "extension_application",
            "severity": "not_applicable", "event_date": "2026-11-20",
            "source_record_id": source,
            "fields": {"about_record_id": about, "requested_until": until,
                       "statement": f"{NAME}因病住院，申请延期三个月缴纳罚款"}}


def applied(live: LiveGateway) -> tuple[str, str]:
    """A penalty and a court listing of ADULT, and an application about the penalty."""
    live.client("market_regulator").submit_records([penalty_record("EXT-P", "general",
                                                                   "2026-10-01")])
    live.client("court").submit_records([debtor_record("EXT-J")])
    consent = self_consent(live)
    [penalty] = own_records(live, consent, category="admin_penalty")
    [reply] = live.client("citizen_portal").submit_records(
        [application(penalty.record_id, "APP-1")]).results
    return penalty.record_id, reply.record_id


def test_the_provider_lists_and_answers_and_queriers_see_the_answer(
        live: LiveGateway) -> None:
    penalty_id, application_id = applied(live)
    market = live.client("market_regulator")
    [listed] = market.list_extensions().applications
    assert (listed.application_id, listed.record_id, listed.source_record_id,
            listed.category, listed.requested_until, listed.outcome) == (
        application_id, penalty_id, "EXT-P", "admin_penalty", "2027-03-31", "")
    assert "因病住院" in listed.statement and listed.filed_on == "2026-11-28"
    # Another department's list holds nothing of it; the court's listing has none.
    assert live.client("court").list_extensions().applications == []
    answer = market.answer_extension(application_id, "granted", granted_until="2027-02-28",
                                     note="准予延期至2027年2月底")
    [after] = market.list_extensions(status="answered").applications
    assert (after.outcome, after.granted_until) == ("granted", "2027-02-28")
    assert market.list_extensions(status="open").applications == []
    # Whoever may see the penalty sees the application and the answer with it.
    [seen] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["admin_penalty"]).records
    kinds = {a.kind: a for a in seen.attachments}
    assert kinds["extension_application"].requested_until == "2027-03-31"
    granted = kinds["extension_answer"]
    assert (granted.record_id, granted.answers, granted.outcome, granted.granted_until) == (
        answer.answer_record_id, application_id, "granted", "2027-02-28")
    assert "准予延期" in granted.text
    # The person too, and in their signed report.
    consent = self_consent(live)
    [own] = own_records(live, consent, category="admin_penalty")
    assert {a.kind for a in own.attachments} == {"extension_application",
                                                 "extension_answer"}
    [entry] = audit_entries(live, "extension.answer")
    assert entry.decision == "allow" and entry.reason == (
        f"extension {application_id} granted")
    assert entry.categories == ("extension_answer",) and entry.subject_index


def test_only_the_provider_answers_once_with_a_date_for_a_grant(
        live: LiveGateway, clock: FixedClock) -> None:
    code = grpc.StatusCode
    _, application_id = applied(live)
    market = live.client("market_regulator")
    # Not the court (it did not provide the penalty), not a party that provides nothing
    # an extension may be asked of.
    refused(lambda: live.client("court").answer_extension(application_id, "refused"),
            code.PERMISSION_DENIED, "only the department that provided")
    for party in ("credit_agency", "regulator", "citizen_portal", "civil_affairs"):
        refused(lambda p=party: live.client(p).answer_extension(application_id, "refused"),
                code.PERMISSION_DENIED, "only a department")
        refused(lambda p=party: live.client(p).list_extensions(), code.PERMISSION_DENIED)
    refused(lambda: market.answer_extension(application_id, "granted"),
            code.INVALID_ARGUMENT, "granted_until")
    refused(lambda: market.answer_extension(application_id, "refused",
                                            granted_until="2027-01-01"),
            code.INVALID_ARGUMENT, "granted_until")
    refused(lambda: market.answer_extension(application_id, "granted",
                                            granted_until="2026-11-27"),
            code.INVALID_ARGUMENT, "in the past")
    refused(lambda: market.answer_extension(application_id, "maybe"),
            code.INVALID_ARGUMENT, "granted or refused")
    refused(lambda: market.answer_extension("rec-00000000-no-such", "refused"),
            code.NOT_FOUND)
    refused(lambda: market.list_extensions(status="pending"), code.INVALID_ARGUMENT)
    market.answer_extension(application_id, "refused", note="不符合延期条件")
    refused(lambda: market.answer_extension(application_id, "granted",
                                            granted_until="2027-01-31"),
            code.FAILED_PRECONDITION, "answered")
    denied = {e.reason for e in audit_entries(live, "extension.answer")
              if e.decision == "deny"}
    assert {"not_provider", "extension_answer_invalid", "extension_unknown",
            "extension_answered"} <= denied


def test_a_submitted_answer_passes_the_same_rules(live: LiveGateway) -> None:
    _, application_id = applied(live)

    def answer(source: str, **fields: str) -> dict[str, Any]:
        return {"subject_id": ADULT, "category": "extension_answer",
                "severity": "not_applicable", "event_date": "2026-11-28",
                "source_record_id": source,
                "fields": {"application_record_id": application_id, **fields}}

    # The court cannot answer for the market regulator's penalty by submitting either,
    # nor can an answer cite another person's application or a record that is none.
    refused(lambda: live.client("court").submit_records(
        [answer("CA-1", outcome="refused")]), grpc.StatusCode.PERMISSION_DENIED,
        "only the department that provided")
    other = answer("MA-X", outcome="refused")
    other["subject_id"] = OTHER_ADULT
    refused(lambda: live.client("market_regulator").submit_records([other]),
            grpc.StatusCode.INVALID_ARGUMENT, "application_record_id")
    market = live.client("market_regulator")
    market.submit_records([answer("MA-1", outcome="granted", granted_until="2027-01-31")])
    # The same answer sent again is no second answer; another one is.
    assert not market.submit_records([answer("MA-1", outcome="granted",
                                             granted_until="2027-01-31")]).results[0].created
    refused(lambda: market.submit_records([answer("MA-2", outcome="refused")]),
            grpc.StatusCode.FAILED_PRECONDITION, "answered")
    [listed] = market.list_extensions().applications
    assert (listed.outcome, listed.granted_until) == ("granted", "2027-01-31")


def test_an_application_about_a_record_out_of_use_is_no_longer_listed(
        live: LiveGateway) -> None:
    _, application_id = applied(live)
    market = live.client("market_regulator")
    market.revise_record(source_record_id="EXT-P", reason="revoked_on_review")
    assert market.list_extensions().applications == []
    refused(lambda: market.answer_extension(application_id, "refused"),
            grpc.StatusCode.FAILED_PRECONDITION, "no longer in use")


def test_the_answer_message_names_no_person() -> None:
    names = {f.name for f in pb.ExtensionApplication.DESCRIPTOR.fields}
    assert not names & {"subject_id", "person_name", "name"}


def test_answers_racing_for_one_application_leave_one(live: LiveGateway) -> None:
    """Answers sent at once (the department's clerks, or a retry beside the first try)
    are one answer: the first is kept and the others refused as answered, never two
    answers (granted and refused) standing beside each other."""
    _, application_id = applied(live)
    market = live.client("market_regulator")

    def answer(n: int) -> str:
        try:
            if n % 2:
                market.answer_extension(application_id, "refused", note="不符合延期条件")
            else:
                market.answer_extension(application_id, "granted",
                                        granted_until="2027-01-31")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
            return "refused"
        return "answered"

    outcomes = run_together(answer, [(n,) for n in range(8)])
    assert sorted(outcomes) == ["answered"] + ["refused"] * 7
    answers = [r for r in live.gw.store.records_in_categories(["extension_answer"],
                                                               limit=100)
               if r.state == "active"]
    assert len(answers) == 1
    [entry] = [e for e in audit_entries(live, "extension.answer") if e.decision == "allow"]
    assert entry.reason.startswith(f"extension {application_id} ")
