"""Key domains and occupational groups: catalogue enumerations, carried by records, filterable."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.catalogue.registry import Catalogue
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import refused
from tests.services.records_data import penalty_record
from tests.support import ADULT

PLAN_DOMAINS = {
    "food_drugs": "食品药品", "work_safety": "安全生产", "intermediary_services": "中介服务",
    "public_resource_trading": "公共资源交易", "education_research": "教育科研",
    "tourism": "旅游", "internet_services": "互联网服务", "environment": "生态环境",
    "product_quality": "产品质量", "taxation": "税收", "health_care": "医疗卫生",
    "finance": "金融", "intellectual_property": "知识产权", "e_commerce": "电子商务",
    "credit_services": "信用服务",
}
PLAN_OCCUPATIONS = {
    "civil_servant": "公务员", "lawyer": "律师", "notary": "公证员", "teacher": "教师",
    "doctor": "医师", "pharmacist": "执业药师", "tax_agent": "税务师", "tour_guide": "导游",
    "journalist": "新闻媒体从业人员", "researcher": "科研人员",
}


def filed(source: str, domain: str, occupation: str = "") -> dict[str, Any]:
    record = penalty_record(source, "general", "2026-10-01")
    record.update(domain=domain, occupation=occupation)
    return record


def test_the_plans_domains_and_occupations_have_chinese_names(catalogue: Catalogue) -> None:
    assert len(catalogue.domains) >= 24 and len(catalogue.occupations) >= 16
    for code, name_zh in PLAN_DOMAINS.items():
        assert catalogue.domains[code].name_zh == name_zh
    for code, name_zh in PLAN_OCCUPATIONS.items():
        assert catalogue.occupations[code].name_zh == name_zh


def test_records_carry_them_and_a_query_filters_by_domain(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([
        filed("DOM-1", "food_drugs", "doctor"), filed("DOM-2", "tourism", "tour_guide"),
        filed("DOM-3", "")])
    licensing = live.client("market_regulator")
    every = licensing.query_subject(ADULT, "admin_licensing", categories=["admin_penalty"])
    assert sorted(r.domain for r in every.records) == ["", "food_drugs", "tourism"]
    food = licensing.query_subject(ADULT, "admin_licensing", categories=["admin_penalty"],
                                   domains=["food_drugs"])
    assert [r.domain for r in food.records] == ["food_drugs"]
    two = licensing.query_subject(ADULT, "admin_licensing", domains=["food_drugs", "tourism"])
    assert sorted(r.domain for r in two.records) == ["food_drugs", "tourism"]
    stored = live.gw.store.find_record_by_source("market_regulator", "DOM-1")
    assert stored is not None and (stored.domain, stored.occupation) == ("food_drugs", "doctor")


def test_unknown_codes_are_refused(live: LiveGateway) -> None:
    code = grpc.StatusCode.INVALID_ARGUMENT
    refused(lambda: live.client("market_regulator").submit_records([filed("X-1", "gossip")]),
            code, "unknown domain")
    refused(lambda: live.client("market_regulator").submit_records(
        [filed("X-2", "tourism", "astrologer")]), code, "unknown occupation")
    refused(lambda: live.client("market_regulator").query_subject(
        ADULT, "admin_licensing", domains=["gossip"]), code, "unknown domain")


def test_a_resubmission_with_another_domain_is_a_conflict(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([filed("RD-1", "tourism")])
    again = live.client("market_regulator").submit_records([filed("RD-1", "tourism")])
    assert not again.results[0].created
    refused(lambda: live.client("market_regulator").submit_records([filed("RD-1", "finance")]),
            grpc.StatusCode.ALREADY_EXISTS)
