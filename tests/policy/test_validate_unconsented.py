"""`policy validate` warns when a credit agency or the public website reads without consent.

Generated: every personnel purpose (a query purpose that needs no consent), each party
that may read only with consent, by its id or its role, over a field, a category, a
group or everything, clear or masked, with or without a condition that holds anyway.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalogue.registry import load_catalogue
from gateway.policy.validate import validate_policy
from tests.support import POLICIES

CATALOGUE = load_catalogue(POLICIES)
PERSONNEL = sorted(p.code for p in CATALOGUE.purposes.values()
                   if p.queryable and not p.consent_required and p.code != "public_disclosure")
# Who may read only with consent: (subject written in the rule, party ids it covers).
SUBJECTS = [("credit_agency", ("credit_agency", "credit_agency_b")),
            ("credit_agency_b", ("credit_agency_b",)),
            ("public_website", ("credit_website",)), ("credit_website", ("credit_website",))]
OBJECTS = [("identity.address", "identity"), ("dishonest_debtor", "dishonest_debtor"),
           ("negative", "violation"), ("all", "honour"), ("basic", "education")]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unconsented")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(purpose=st.sampled_from(PERSONNEL), subject=st.sampled_from(SUBJECTS),
       obj=st.sampled_from(OBJECTS), act=st.sampled_from(["read", "read_masked"]),
       cond=st.sampled_from(["", "subject_adult"]))
def test_a_read_without_consent_for_a_personnel_purpose_is_warned(
        scratch: Path, purpose: str, subject: tuple[str, tuple[str, ...]],
        obj: tuple[str, str], act: str, cond: str) -> None:
    folder = scratch / "p"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(POLICIES, folder)
    rule = f"p, {subject[0]}, {obj[0]}, {act}, {purpose}, allow, {cond}\n"
    with (folder / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(rule)
    findings = validate_policy(folder)
    warned = [f for f in findings if "without the person's consent" in f.message]
    assert not [f for f in findings if f.severity == "error"]
    for party in subject[1]:
        assert any(f.message.startswith(f"{party} ") and f" {obj[1]} for {purpose}"
                   in f.message for f in warned), [str(f) for f in findings]
    assert all(f.severity == "warning" and f.file == "policy.csv" for f in warned)


def test_the_shipped_policy_gives_no_unconsented_read() -> None:
    assert not [f for f in validate_policy(POLICIES) if "consent" in f.message]


def test_a_department_reading_for_a_personnel_purpose_is_not_warned(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    shutil.copytree(POLICIES, folder)
    with (folder / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, hr_bureau, identity.name, read, cadre_selection, allow,\n")
    assert not [f for f in validate_policy(folder) if "without the person's consent" in f.message]
