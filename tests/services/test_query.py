"""QuerySubject end to end: purpose-bound release, masking, withholding, display periods."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.services.records_data import (
    ADDRESS,
    BANK_CARD,
    MOBILE,
    NAME,
    debtor_record,
    financial_record,
    identity_record,
    penalty_record,
    tax_record,
)
from tests.support import ADULT, OTHER_ADULT, POLICIES


def load(live: LiveGateway) -> None:
    """Records of two people in several categories, several per category."""
    live.client("court").submit_records(
        [debtor_record("J-1"), debtor_record("J-2", event_date="2026-07-01"),
         debtor_record("J-3", subject=OTHER_ADULT)])
    live.client("public_security").submit_records([identity_record()])
    live.client("tax_bureau").submit_records([tax_record()])
    live.client("pboc_branch").submit_records([financial_record()])
    live.client("market_regulator").submit_records([
        penalty_record("P-old", "minor", "2026-01-10"),   # display ended in April
        penalty_record("P-new", "general", "2026-10-01")])


def fields_of(reply: pb.QuerySubjectResponse, category: str) -> list[dict[str, tuple[str, int]]]:
    return [{f.name: (f.value, f.disclosure) for f in r.fields}
            for r in reply.records if r.category == category]


def test_cadre_selection_releases_by_policy(live: LiveGateway) -> None:
    load(live)
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    debts = fields_of(reply, "dishonest_debtor")
    assert len(debts) == 2  # only this person's, both of them
    assert debts[0]["case_number"] == ("J-1", pb.CLEAR)
    identity = fields_of(reply, "identity")[0]
    assert identity["name"] == (NAME, pb.CLEAR)
    address, how = identity["address"]
    assert how == pb.MASKED and address != ADDRESS and address.startswith("浙江省杭州市西湖区")
    assert identity["mobile"][1] == pb.MASKED and MOBILE not in identity["mobile"][0]
    assert "student_integrity" in reply.withheld_categories
    assert reply.audit_seq > 0


def test_no_value_is_released_in_clear_unless_policy_says_clear(live: LiveGateway) -> None:
    load(live)
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    engine = live.gw.policy
    for record in reply.records:
        category = live.gw.catalogue.categories[record.category]
        decisions = engine.decide_fields("org_department", category, "cadre_selection",
                                         _ctx(live))
        levels = {fd.field: fd.release for fd in decisions.fields}
        for f in record.fields:
            expected = pb.CLEAR if levels[f.name] == "clear" else pb.MASKED
            assert f.disclosure == expected, (record.category, f.name)
        for name in record.withheld_fields:
            assert levels.get(name, "withheld") == "withheld"


def _ctx(live: LiveGateway) -> object:
    from gateway.policy.conditions import ConditionContext

    return ConditionContext(consent_presented=False, subject_age=44, now=live.gw.clock.now())


def test_records_past_their_display_period_never_leave(live: LiveGateway) -> None:
    load(live)
    reply = live.client("market_regulator").query_subject(ADULT, "admin_licensing",
                                                          categories=["admin_penalty"])
    sources = {f.value for r in reply.records for f in r.fields if f.name == "decision_number"}
    assert sources == {"P-new"}


def test_party_with_no_rule_is_refused(live: LiveGateway) -> None:
    load(live)
    with pytest.raises(grpc.RpcError) as info:
        live.client("credit_website").query_subject(ADULT, "cadre_selection")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_purpose_outside_the_partys_rules_is_refused(live: LiveGateway) -> None:
    load(live)
    with pytest.raises(grpc.RpcError) as info:
        live.client("tax_bureau").query_subject(ADULT, "cadre_selection")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("subject", "purpose", "categories", "message"),
    [
        (ADULT, "gossip", [], "unknown purpose"),
        (ADULT, "", [], "purpose is required"),
        (ADULT, "cadre_selection", ["horoscope"], "unknown category"),
        (ADULT[:17] + ("1" if ADULT[17] == "0" else "0"), "cadre_selection", [], "check"),
        ("12345", "cadre_selection", [], "18 characters"),
    ],
)
def test_bad_queries_are_invalid_and_never_echo_the_id(
    live: LiveGateway, subject: str, purpose: str, categories: list[str], message: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        live.client("org_department").query_subject(subject, purpose, categories=categories)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()
    assert subject[:10] not in info.value.details()


def test_denied_fields_stay_out_even_for_allowed_categories(live: LiveGateway) -> None:
    load(live)
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection",
                                                        categories=["financial_dishonesty"])
    values = [f.value for r in reply.records for f in r.fields]
    assert BANK_CARD not in values


def test_free_text_released_masked_has_the_persons_name_masked(live_factory,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    # Policy as a city might write it: agencies see the obligation, desensitised by their
    # profile's scan operator, which must know the person's name to mask it.
    folder = tmp_path / "policies"
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with (folder / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, credit_agency, dishonest_debtor.obligation, read, authorised_query, deny,\n"
                 "p, credit_agency, dishonest_debtor.obligation, read_masked, authorised_query,"
                 " allow, consent\n")
    live = live_factory(policies=folder, subdir="scan")
    narrative = f"被执行人{NAME}拒不履行，{NAME[2:]}称无力偿还"
    live.client("court").submit_records([debtor_record("SCAN-1", obligation=narrative)])
    now = live.gw.clock.now()
    consent = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=1), max_uses=1)
    reply = live.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                       consent_id=consent)
    [obligation] = [f for r in reply.records for f in r.fields if f.name == "obligation"]
    assert obligation.disclosure == pb.MASKED
    assert NAME not in obligation.value and NAME[2:] not in obligation.value
    assert obligation.value.startswith("被执行人欧阳")  # the surname stays, as the profile says
