"""The tax memorandum, coded behaviours and key supervision targets, and joint punishment
reaching an organisation's responsible persons, end to end."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.records.responsible import responsible_person_records
from gateway.records.uscc import make_uscc
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import refused
from tests.services.records_data import NAME, penalty_record
from tests.support import ADULT, OTHER_ADULT, TEENAGER

COMPANY = make_uscc("91510400MA62ABCD8")


def tax_case(source: str = "攀税稽罚〔2026〕7号", **fields: str) -> dict[str, Any]:
    """A major tax violation case against a company, before it names persons."""
    base = {"taxpayer_name": NAME, "case_number": source, "violation": "虚开增值税专用发票",
            "amount": "860000.00", "authority": "国家税务总局攀枝花市税务局稽查局",
            "behaviour": "false_invoicing", "org_name": "攀枝花某贸易有限公司",
            "org_uscc": COMPANY}
    base.update(fields)
    return {"subject_id": ADULT, "category": "major_tax_violation", "severity": "serious",
            "event_date": "2026-08-01", "source_record_id": source, "fields": base}


def test_a_tax_case_reaches_the_companys_responsible_persons(live: LiveGateway) -> None:
    batch = responsible_person_records(tax_case(), {ADULT: "legal_representative",
                                                    OTHER_ADULT: "financial_officer"})
    live.client("tax_bureau").submit_records(batch)
    checker = live.client("public_security")
    for person in (ADULT, OTHER_ADULT):
        assert checker.joint_punishment(person, "tax_exit_ban").restricted
        assert checker.joint_punishment(person, "financing").restricted
    # Someone the case does not name is not touched by it.
    assert not checker.joint_punishment(TEENAGER, "tax_exit_ban").restricted
    # The record shows the organisation and the person's role to those who may read it.
    seen = live.client("tax_bureau").query_subject(OTHER_ADULT, "joint_punishment",
                                                   categories=["major_tax_violation"])
    [record] = seen.records
    fields = {f.name: f.value for f in record.fields}
    assert fields["org_uscc"] == COMPANY and fields["party_role"] == "financial_officer"
    # Codes are checked: an unknown role or behaviour refuses the batch.
    refused(lambda: live.client("tax_bureau").submit_records(
        responsible_person_records(tax_case("T-2"), {ADULT: "cousin"})),
        grpc.StatusCode.INVALID_ARGUMENT, "party_role")
    refused(lambda: live.client("tax_bureau").submit_records(
        [tax_case("T-3", behaviour="jaywalking")]), grpc.StatusCode.INVALID_ARGUMENT,
        "behaviour")
    # Only the tax bureau submits tax cases.
    refused(lambda: live.client("market_regulator").submit_records([tax_case("T-4")]),
            grpc.StatusCode.PERMISSION_DENIED)


def test_coded_serious_behaviour_makes_a_key_supervision_target(live: LiveGateway) -> None:
    fraud = penalty_record("KS-1", "minor", "2026-10-01")
    fraud["fields"]["behaviour"] = "social_insurance_fraud"
    plain = penalty_record("KS-2", "serious", "2026-10-01", subject=OTHER_ADULT)
    plain["fields"]["behaviour"] = "false_advertising"
    live.client("market_regulator").submit_records([fraud, plain])
    hr = live.client("hr_bureau")
    reply = hr.joint_punishment(ADULT, "key_supervision", "key_supervision")
    assert (reply.restricted, reply.measure_name_zh, reply.authority) == (
        True, "列为重点监管对象", "regulator")
    # A serious penalty without one of the plan's serious behaviours makes no target.
    assert not hr.joint_punishment(OTHER_ADULT, "key_supervision", "key_supervision").restricted
    code = grpc.StatusCode
    refused(lambda: hr.joint_punishment(ADULT, "key_supervision"), code.PERMISSION_DENIED,
            "key_supervision only")
    refused(lambda: live.client("credit_agency").joint_punishment(
        ADULT, "key_supervision", "key_supervision"), code.PERMISSION_DENIED, "policy")
