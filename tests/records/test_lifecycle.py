"""The lifecycle rules without a gateway: catalogue sections, states, checks, display starts."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.catalogue.rules import GreenChannelRule
from gateway.errors import ConfigurationError
from gateway.records.checks import (
    green_channel_categories,
    green_channel_eligible,
    measure_applies,
)
from gateway.records.display import display_end
from gateway.records.lifecycle import (
    ACTIVE,
    REMOVED,
    conduct_date,
    in_use,
    publishable,
    removable,
    repair_opens,
)
from gateway.records.model import StoredRecord, StoredValue
from tests.support import POLICIES

TODAY = date(2026, 11, 28)


def rec(category: str = "admin_penalty", severity: str = "general",
        event: date = date(2026, 10, 1), end: date | None = date(2027, 9, 30),
        **changes: object) -> StoredRecord:
    base = StoredRecord(record_id="rec-1", provider="market_regulator", source_record_id="s",
                        subject_index="idx", subject_ciphertext=b"", category=category,
                        severity=severity, event_date=event, display_end=end,
                        submitted_at="", submission_digest="")
    return replace(base, **changes)  # type: ignore[arg-type]


# ------------------------------------------------------------------ states


def test_in_use_needs_the_live_version_within_display() -> None:
    assert in_use(rec(), TODAY)
    assert in_use(rec(end=TODAY), TODAY)
    assert not in_use(rec(end=date(2026, 11, 27)), TODAY)
    assert in_use(rec(end=None), TODAY)
    for state in ("superseded", "withdrawn", "repaired", REMOVED):
        assert not in_use(rec(state=state), TODAY), state


def test_the_public_feed_leaves_out_disputed_and_private_records(catalogue: Catalogue) -> None:
    penalty = catalogue.categories["admin_penalty"]
    assert penalty.public and publishable(rec(), penalty, TODAY)
    assert not publishable(rec(disputed=True), penalty, TODAY)
    assert not publishable(rec(end=date(2026, 1, 1)), penalty, TODAY)
    assert not publishable(rec(category="violation"), catalogue.categories["violation"], TODAY)


def test_removal_and_repair_follow_the_catalogue(catalogue: Catalogue) -> None:
    debtor = catalogue.categories["dishonest_debtor"]
    penalty = catalogue.categories["admin_penalty"]
    assert removable(debtor, rec(category="dishonest_debtor", severity="serious", end=None))
    assert not removable(penalty, rec())
    assert repair_opens(penalty, rec()) == date(2027, 1, 1)
    assert repair_opens(penalty, rec(severity="minor")) == date(2026, 10, 1)
    assert repair_opens(penalty, rec(severity="serious")) == date(2027, 10, 1)
    assert repair_opens(debtor, rec(category="dishonest_debtor", severity="serious")) is None


def test_display_and_conduct_run_from_the_end_of_financial_conduct(
        catalogue: Catalogue) -> None:
    financial = catalogue.categories["financial_dishonesty"]
    assert display_end(financial, "serious", date(2025, 8, 1),
                       {"conduct_end_date": "2026-03-15"}) == date(2031, 3, 14)
    assert display_end(financial, "serious", date(2025, 8, 1), {}) == date(2030, 7, 31)
    # Other categories ignore a field of that name.
    penalty = catalogue.categories["admin_penalty"]
    assert display_end(penalty, "minor", date(2026, 1, 10),
                       {"conduct_end_date": "2026-03-15"}) == date(2026, 4, 9)
    ended = rec(category="financial_dishonesty", severity="serious", event=date(2025, 8, 1),
                fields={"conduct_end_date": StoredValue(plain="2026-03-15")})
    assert conduct_date(financial, ended) == date(2026, 3, 15)
    sealed = replace(ended, fields={"conduct_end_date": StoredValue(ciphertext=b"x")})
    assert conduct_date(financial, sealed) == date(2025, 8, 1)


# ------------------------------------------------------------------ checks


def test_green_channel_look_back_edges(catalogue: Catalogue) -> None:
    rule = catalogue.lifecycle.green_channel
    assert rule is not None and rule.clean_years == 3
    assert set(green_channel_categories(catalogue)) >= {"dishonest_debtor", "honour"}
    assert "identity" not in green_channel_categories(catalogue)
    # Conduct exactly 3 years ago is 3 years clean; a day later it is recent.
    # (Shown for 5 years from the conduct, like a financial record, so still in use.)
    on_cutoff = rec(severity="serious", event=date(2023, 11, 28), end=date(2028, 11, 27))
    assert in_use(on_cutoff, TODAY)
    assert green_channel_eligible(rule, catalogue, [on_cutoff], TODAY)
    recent = replace(on_cutoff, event_date=date(2023, 11, 29))
    assert not green_channel_eligible(rule, catalogue, [recent], TODAY)
    honour = rec(category="honour", severity="not_applicable", end=date(2031, 1, 1))
    assert green_channel_eligible(rule, catalogue, [rec(), honour], TODAY)
    no_positive_rule = GreenChannelRule(purpose="admin_licensing", clean_years=3)
    assert not green_channel_eligible(no_positive_rule, catalogue, [rec(), honour], TODAY)
    assert not green_channel_eligible(rule, catalogue, [rec(), replace(honour, state=REMOVED)],
                                      TODAY)


def test_a_measure_counts_only_its_categories_and_severities(catalogue: Catalogue) -> None:
    officer = catalogue.measures["company_officer"]
    assert officer.authority == "market_regulator"
    general = rec(category="legal_rep_dishonesty", severity="general")
    assert not measure_applies(officer, [general], TODAY)
    assert measure_applies(officer, [replace(general, severity="serious")], TODAY)
    assert not measure_applies(officer, [replace(general, severity="serious", state="repaired")],
                               TODAY)
    assert not measure_applies(catalogue.measures["high_consumption"], [general], TODAY)
    assert {m.code for m in catalogue.measures.values()} >= {
        "high_consumption", "flights_and_rail", "company_officer", "civil_servant_recruitment"}
    assert all(m.name_zh for m in catalogue.measures.values())
    assert rec().state == ACTIVE


# ------------------------------------------------------------------ broken catalogues


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('authority = "court"\nbasis = "最高人民法院关于限制被执行人',
         'authority = "ghost"\nbasis = "最高人民法院关于限制被执行人', "unknown authority"),
        ('categories = ["dishonest_debtor"]\nauthority = "court"\nbasis = "最高',
         'categories = ["horoscope"]\nauthority = "court"\nbasis = "最高', "unknown category"),
        ("repair.after_months = { minor = 0, general = 3, serious = 12 }\n"
         'repair.approver = "provider"\nfields.person_name',
         "repair.after_months = { minor = 0, general = 12, serious = 12 }\n"
         'repair.approver = "provider"\nfields.person_name', "display of 'general' ends"),
        ('repair.approver = "education_bureau"', 'repair.approver = "ghost_school"',
         "unknown repair approver"),
        ("repair.after_months = { general = 3, serious = 12 }",
         "repair.after_months = { minor = 1, general = 3, serious = 12 }",
         "does not have"),
        ('display_from = "conduct_end_date"', 'display_from = "institution"',
         "must name a date field"),
        ("objection_answer_days = 20", "objection_answer_days = 0", "objection_answer_days"),
        ('purpose = "admin_licensing"\nclean_years', 'purpose = "self_query"\nclean_years',
         "without consent"),
        ("clean_years = 3", "clean_years = 0", "clean_years"),
    ],
)
def test_broken_lifecycle_sections_are_refused(tmp_path: Path, old: str, new: str,
                                               message: str) -> None:
    for name in ("catalogue.toml", "parties.toml", "purposes.toml"):
        shutil.copy(POLICIES / name, tmp_path / name)
    path = tmp_path / "catalogue.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_catalogue(tmp_path)


def test_a_catalogue_without_lifecycle_sections_still_loads(tmp_path: Path) -> None:
    for name in ("parties.toml", "purposes.toml"):
        shutil.copy(POLICIES / name, tmp_path / name)
    text = (POLICIES / "catalogue.toml").read_text(encoding="utf-8")
    cut = text.index("# ------------------------------------------------------------------ "
                     "minimal-disclosure checks")
    (tmp_path / "catalogue.toml").write_text(text[:cut], encoding="utf-8")
    loaded = load_catalogue(tmp_path)
    assert loaded.lifecycle.green_channel is None and not loaded.measures
    assert loaded.lifecycle.objection_answer_days == 20


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('authority = "hr_bureau"\npurpose = "incentive"',
         'authority = "nobody"\npurpose = "incentive"', "unknown authority"),
        ('categories = ["honour", "honour_list"]\n',
         'categories = ["honour", "admin_penalty"]\n', "not a positive category"),
        ('purpose = "incentive_market"', 'purpose = "submission"', "not a query purpose"),
        ("min_records = 1", "min_records = 0", "min_records"),
        ("min_records = 1", "minimum = 1", r"unknown key incentives\.awards_priority\.minimum$"),
        ('remits.list_type.youth_league = ["excellent_volunteer"]\n', "", "exactly the"),
        ("fields.list_type = {", "fields.list_kind = {", "remits name unknown field"),
        ('behaviours = ["malicious_debt_evasion"', 'behaviours = ["gossip"',
         "unknown behaviour"),
        ('party_role = ["party"', 'party_role = [1', "field_values"),
        ('purpose = "key_supervision"\ncategories', 'purpose = "authorised_query"\ncategories',
         "without consent"),
    ],
)
def test_broken_incentives_and_remits_are_refused(tmp_path: Path, old: str, new: str,
                                                  message: str) -> None:
    test_broken_lifecycle_sections_are_refused(tmp_path, old, new, message)
