"""The catalogue: the plan's purposes and categories, Chinese names, cross-references."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.errors import ConfigurationError
from gateway.records.display import add_months, display_end, is_displayable
from tests.support import POLICIES

PLAN_PURPOSES = {
    "cadre_selection": "干部选拔任职", "title_evaluation": "职称评定", "awards": "表彰评优",
    "personnel_exam": "人事考试", "special_industry_entry": "特殊行业入职",
    "officer_appointment": "企业高管任职", "admin_licensing": "行政许可（容缺受理）",
    "joint_punishment": "联合惩戒", "authorised_query": "授权查询", "self_query": "本人查询",
}


def test_every_purpose_of_the_plan_with_chinese_name_and_basis(catalogue: Catalogue) -> None:
    for code, name_zh in PLAN_PURPOSES.items():
        purpose = catalogue.purposes[code]
        assert purpose.name_zh == name_zh and purpose.legal_basis
    assert catalogue.purposes["authorised_query"].consent_required
    assert not catalogue.purposes["cadre_selection"].consent_required


def test_remit_of_departments(catalogue: Catalogue) -> None:
    assert catalogue.categories["dishonest_debtor"].providers == {"court"}
    assert catalogue.categories["tax_credit_rating"].providers == {"tax_bureau"}
    assert catalogue.categories["financial_dishonesty"].providers == {"pboc_branch"}
    assert catalogue.categories["student_integrity"].min_subject_age == 18
    assert "market_regulator" in catalogue.categories["admin_penalty"].providers


def test_hierarchy_links_fields_to_categories_to_groups(catalogue: Catalogue) -> None:
    edges = set(catalogue.hierarchy())
    assert ("dishonest_debtor.amount", "dishonest_debtor") in edges
    assert ("dishonest_debtor", "negative") in edges
    assert ("negative", "all") in edges


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('providers = ["court"]', 'providers = ["ghost_court"]', "unknown provider"),
        ('groups = ["negative"]', 'groups = ["nonsense"]', "unknown group"),
        ('polarity = "negative"', 'polarity = "mixed"', "polarity"),
        ('type = "person_name"', 'type = "shoe_size"', "unknown type"),
        ("display = { serious = \"until_removed\" }", "display = { serious = -1 }", "display"),
        # A dotted code would read as a field of another category in the policy.
        ("[categories.employment]", '[categories."identity.address"]', "may not hold '.'"),
        ("fields.name = {", 'fields."a.b" = {', "may not hold '.'"),
        # Counties: a known code list with GB/T 2260 divisions, each division once.
        ('division = "510421"', 'division = "51042"', "6-digit GB/T 2260"),
        ('division = "510421"', 'division = "510422"', "division 510422 is also"),
        ('miyi = { name = "Miyi County", name_zh = "米易县", ',
         'miyi = { name = "Miyi County", ', "missing key counties.miyi.name_zh"),
        ("[counties]\ndongqu", "[counties]\nnegative = { name = \"x\", name_zh = \"x\", "
         "division = \"510499\" }\ndongqu", "codes used twice"),
        # Market information comes from credit agencies, and they provide nothing else.
        ('provenance = "market"\n', 'provenance = "public"\n', "cannot provide public"),
        ('providers = ["court"]', 'providers = ["court", "credit_agency"]',
         "cannot provide public"),
        ('provenance = "market"\n', 'provenance = "hearsay"\n', "provenance must be"),
    ],
)
def test_broken_catalogue_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    refused_with(tmp_path, "catalogue.toml", old, new, message)


def refused_with(tmp_path: Path, edited: str, old: str, new: str, message: str) -> None:
    """The shipped catalogue files with one edit in `edited` are refused with `message`."""
    for name in ("catalogue.toml", "parties.toml", "purposes.toml"):
        shutil.copy(POLICIES / name, tmp_path / name)
    text = (tmp_path / edited).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / edited).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_catalogue(tmp_path)


def test_missing_file_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        load_catalogue(tmp_path)


def test_display_period_boundaries(catalogue: Catalogue) -> None:
    penalty = catalogue.categories["admin_penalty"]
    end = display_end(penalty, "minor", date(2026, 1, 31))
    assert end == date(2026, 4, 29)  # 3 months from Jan 31 is Apr 30, shown through Apr 29
    assert is_displayable(end, date(2026, 4, 28))
    assert is_displayable(end, date(2026, 4, 29))
    assert not is_displayable(end, date(2026, 4, 30))
    assert display_end(catalogue.categories["dishonest_debtor"], "serious",
                       date(2020, 1, 1)) is None
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('county = "miyi"\nroles', 'county = "atlantis"\nroles', "unknown county 'atlantis'"),
        ('counterpart = "market_regulator"', 'counterpart = "ghost"', "unknown counterpart"),
        # The counterpart is a city party of the same kind.
        ('counterpart = "market_regulator"', 'counterpart = "credit_agency"',
         "counterpart must be a city party of kind 'department'"),
        ('counterpart = "market_regulator"', 'counterpart = "renhe_public_security"',
         "counterpart must be a city party"),
        ('kind = "department"\ncounty = "renhe"\n', 'kind = "department"\n',
         "only a county party has a counterpart"),
        ("[parties.miyi_government]", "[parties.miyi]", "county codes used as party ids"),
    ],
)
def test_broken_county_parties_refused(tmp_path: Path, old: str, new: str,
                                       message: str) -> None:
    refused_with(tmp_path, "parties.toml", old, new, message)


def test_a_county_party_provides_what_its_counterpart_provides(catalogue: Catalogue) -> None:
    county = catalogue.parties["miyi_market_regulator"]
    assert (county.county, county.counterpart) == ("miyi", "market_regulator")
    provided = {c.code for c in catalogue.categories.values()
                if "miyi_market_regulator" in c.providers}
    assert provided == {c.code for c in catalogue.categories.values()
                        if "market_regulator" in c.providers}
    assert not any("miyi_government" in c.providers for c in catalogue.categories.values())
    assert catalogue.counties["miyi"].name_zh == "米易县"
    assert ("miyi_market_regulator", "market_regulator") in catalogue.role_edges()
    assert ("miyi_government", "miyi") in catalogue.role_edges()


def test_an_agreement_names_exactly_the_categories_published_with_agreement(
        catalogue: Catalogue) -> None:
    agreed = catalogue.categories["publication_agreement"].fields["agreed_category"]
    assert agreed.values == {c.code for c in catalogue.categories.values()
                             if c.publish_with_agreement}
    assert {"honour_list", "reward_typical_case"} <= agreed.values


def test_an_extension_is_answered_by_the_providers_of_what_it_may_cite(
        catalogue: Catalogue) -> None:
    cited = catalogue.categories["extension_application"].cites["about_record_id"]
    assert "*" not in cited
    providers = {p for code in cited for p in catalogue.categories[code].providers}
    assert catalogue.categories["extension_answer"].providers == providers
    assert catalogue.categories["extension_answer"].fields["application_record_id"].sensitive \
        is False


def test_revision_reasons_have_chinese_names_and_a_legal_basis(catalogue: Catalogue) -> None:
    reasons = catalogue.lifecycle.revision_reasons
    assert set(reasons) == {"entered_in_error", "revoked_on_review", "changed_by_court",
                            "decision_amended"}
    assert reasons["changed_by_court"].name_zh == "经法院判决撤销或变更"
    assert all(r.name_zh and r.basis and r.name for r in reasons.values())


def test_a_revision_reason_without_its_basis_is_refused(tmp_path: Path) -> None:
    refused_with(tmp_path, "catalogue.toml",
                 'name_zh = "信息录入错误", basis = "市个人诚信体系建设实施方案（2018）：建立和完善'
                 '信用记录形成和动态更新机制，提供部门对其报送信息的准确性负责" }',
                 'name_zh = "信息录入错误" }', "basis")


def test_every_category_says_what_authorises_collecting_it(catalogue: Catalogue) -> None:
    for cat in catalogue.categories.values():
        assert cat.basis.strip(), cat.code
    # The plan's rewards, punishments and repair cite the plan's own words.
    for code in ("honour_list", "credit_commitment", "personal_statement",
                 "extension_application", "extension_answer", "reward_typical_case"):
        assert "实施方案（2018）" in catalogue.categories[code].basis, code
    assert "行政许可法" in catalogue.categories["admin_licence"].basis
    assert "个人信息保护法第二十五条" in catalogue.categories["publication_agreement"].basis
