"""One kind of personal data, equally protected wherever it sits (catalogue kinds, validate).

Every variant weakens the shipped policy in one place (a rule on one field instead of
the kind, a profile operator, a missing scan) and `validate_policy` must report an error.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from gateway.catalogue.registry import FIELD_KINDS, load_catalogue
from gateway.errors import ConfigurationError
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine
from gateway.policy.validate import open_policies, possible_contexts, validate_policy
from tests.support import POLICIES

CATALOGUE = load_catalogue(POLICIES)
FIELDS_BY_KIND = {kind: sorted(c.object_name(f) for c in CATALOGUE.categories.values()
                               for f, spec in c.fields.items() if spec.kind == kind)
                  for kind in FIELD_KINDS}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def errors(policies: Path) -> list[str]:
    return [str(f) for f in validate_policy(policies) if f.severity == "error"]


def test_every_field_has_a_kind_and_personal_kinds_are_sealed() -> None:
    for category in CATALOGUE.categories.values():
        for spec in category.fields.values():
            assert spec.kind in FIELD_KINDS
            if spec.kind != "none":
                assert spec.sensitive, category.object_name(spec.code)
    assert FIELDS_BY_KIND["address"] == ["dishonest_debtor.address", "identity.address"]
    assert "employment.social_insurance_no" in FIELDS_BY_KIND["id_number"]


@pytest.mark.parametrize("field", FIELDS_BY_KIND["address"])
@pytest.mark.parametrize("party, purpose", [("credit_agency", "authorised_query"),
                                            ("personnel_authority", "cadre_selection")])
def test_a_deny_on_one_address_field_instead_of_the_kind_is_an_error(
        scratch: Path, field: str, party: str, purpose: str) -> None:
    # The shipped bug: the deny named identity.address, and the court listing's address
    # went out in clear.
    edit(scratch / "policy.csv", f"p, {party}, address, read, {purpose}, deny,",
         f"p, {party}, {field}, read, {purpose}, deny,")
    other = next(f for f in FIELDS_BY_KIND["address"] if f != field)
    found = errors(scratch)
    assert any(f"gets {other} in clear for {purpose}, but {field} masked" in e
               and "(address)" in e for e in found), found


@pytest.mark.parametrize("field", FIELDS_BY_KIND["person_name"])
def test_masking_one_name_field_while_others_are_clear_is_an_error(scratch: Path,
                                                                  field: str) -> None:
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(f"p, credit_agency, {field}, read, authorised_query, deny,\n"
                 f"p, credit_agency, {field}, read_masked, authorised_query, allow, consent\n")
    found = errors(scratch)
    if field.startswith("student_integrity."):
        assert found == []  # the agency never receives student files: nothing to compare
    else:
        assert any(f"but {field} masked" in e and "(person_name)" in e for e in found), found


@pytest.mark.parametrize("kind", ["address", "person_name"])
def test_a_deny_withholding_one_field_of_a_kind_read_elsewhere_in_clear_is_an_error(
        scratch: Path, kind: str) -> None:
    # public_security reads basic and negative in clear in an investigation: withholding
    # one field of a kind by a deny while another of the kind stays clear is uneven.
    fields = [f for f in FIELDS_BY_KIND[kind]
              if not f.startswith(("student_integrity.", "professional_licence.",
                                   "education.", "employment."))]
    assert len(fields) >= 2
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(f"p, public_security, {fields[0]}, read, criminal_investigation, deny,\n")
    found = errors(scratch)
    assert any(f"but {fields[0]} withheld" in e for e in found), found


def test_a_profile_that_keeps_a_masked_address_counts_as_clear(scratch: Path) -> None:
    edit(scratch / "masking.toml", "[credit_agency.types]",
         '[credit_agency.fields]\n"identity.address" = "keep"\n\n[credit_agency.types]')
    found = errors(scratch)
    assert any("gets identity.address in clear for authorised_query, but "
               "dishonest_debtor.address masked" in e for e in found), found


@pytest.mark.parametrize("party, purpose", [
    ("credit_agency", "authorised_query"), ("department", "cadre_selection"),
    ("department", "awards"), ("department", "joint_punishment"),
    ("department", "officer_appointment")])
def test_free_text_in_clear_to_a_party_that_gets_a_kind_masked_is_an_error(
        scratch: Path, party: str, purpose: str) -> None:
    edit(scratch / "policy.csv", f"p, {party}, free_text, read, {purpose}, deny,\n", "")
    found = errors(scratch)
    assert any("gets the free text" in e and "in clear" in e and f"for {purpose}" in e
               and "scan operator" in e for e in found), found


@pytest.mark.parametrize("operator", ["keep", "mask:1,0", "mask:40,40"])
@pytest.mark.parametrize("audience", ["credit_agency", "department"])
def test_free_text_masked_otherwise_than_by_scan_is_an_error(scratch: Path, operator: str,
                                                            audience: str) -> None:
    text = (scratch / "masking.toml").read_text(encoding="utf-8")
    marker = f"[{audience}.types]\n"
    start = text.index(marker)
    line_at = text.index("free_text = ", start)
    end = text.index("\n", line_at)
    text = text[:line_at] + f'free_text = "{operator}"' + text[end:]
    (scratch / "masking.toml").write_text(text, encoding="utf-8")
    found = errors(scratch)
    how = "in clear" if operator == "keep" else f"masked by '{operator}'"
    assert any("the free text" in e and how in e for e in found), found


@pytest.mark.parametrize("operator", ["redact", "drop"])
def test_redacting_or_dropping_free_text_is_accepted(scratch: Path, operator: str) -> None:
    edit(scratch / "masking.toml", 'free_text = "scan"            # narratives: ID',
         f'free_text = "{operator}"            # narratives: ID')
    assert errors(scratch) == []


def test_a_kind_is_a_policy_object_covering_every_field_of_it(city: PolicyEngine) -> None:
    consent = ConditionContext(consent_presented=True, subject_age=30)
    for field in FIELDS_BY_KIND["address"]:
        assert not city.decide("credit_agency", field, "read", "authorised_query",
                               consent).allowed
        assert city.decide("credit_agency", field, "read_masked", "authorised_query",
                           consent).allowed


@pytest.mark.parametrize("field_line, message", [
    ('fields.mobile = { type = "mobile", kind = "mobile",',
     "missing key categories.identity.fields.mobile.kind"),
    ('fields.mobile = { type = "mobile", kind = "mobile",',
     "unknown kind 'phone'"),
    ('fields.mobile = { type = "mobile", kind = "mobile",',
     "a mobile field is of kind 'mobile'"),
    ('fields.gender = { type = "enum", kind = "none",',
     "a enum field is of kind 'none'"),
    ('fields.position = { type = "text", kind = "none", required = false, sensitive = false',
     "must be sensitive = true"),
])
def test_catalogue_kinds_are_checked(scratch: Path, field_line: str, message: str) -> None:
    replacement = {
        "missing key categories.identity.fields.mobile.kind":
            field_line.replace(' kind = "mobile",', ""),
        "unknown kind 'phone'": field_line.replace('kind = "mobile"', 'kind = "phone"'),
        "a mobile field is of kind 'mobile'": field_line.replace('kind = "mobile"',
                                                                 'kind = "address"'),
        "a enum field is of kind 'none'": field_line.replace('kind = "none"',
                                                             'kind = "id_number"'),
        "must be sensitive = true": field_line.replace('kind = "none"',
                                                       'kind = "free_text"'),
    }[message]
    edit(scratch / "catalogue.toml", field_line, replacement)
    with pytest.raises(ConfigurationError) as info:
        load_catalogue(scratch)
    assert message in info.value.message
    assert any(message in e for e in errors(scratch))


def test_every_party_that_reads_an_address_or_a_mobile_has_decision_cases(
        city: PolicyEngine) -> None:
    # Issue 10 item 1: decision tests pin every party that reads addresses or mobiles, for
    # each purpose it reads them for; a party, role or purpose added later without them
    # fails here (policies/tests/*.toml, a case naming the party or one of its roles, the
    # purpose, and an address or mobile field or the kind itself).
    cases = [case for path in sorted((POLICIES / "tests").glob("*.toml"))
             for case in tomllib.loads(path.read_text(encoding="utf-8")).get("case", [])]
    located = {"address", "mobile"}
    objects = located | {obj for kind in located for obj in FIELDS_BY_KIND[kind]}
    roles = open_policies(POLICIES).roles  # each party and every role it holds, inherited
    missing = []
    for party in CATALOGUE.parties.values():
        names = set(roles.get(party.id, (party.id,)))
        for purpose in CATALOGUE.purposes.values():
            if not purpose.queryable:
                continue
            reads = any(
                decision.release != "withheld"
                and category.fields[decision.field].kind in located
                for ctx in possible_contexts(purpose)
                for category in CATALOGUE.categories.values()
                for decision in city.decide_fields(party.id, category, purpose.code,
                                                   ctx).fields)
            if reads and not any(
                    case.get("purpose") == purpose.code and case.get("object") in objects
                    and (case.get("party") in names or case.get("role") in names)
                    for case in cases):
                missing.append(f"{party.id} for {purpose.code}")
    assert not missing, missing


@pytest.mark.parametrize("party, purpose, kind, opened", [
    ("public_security", "outbound_travel", "address", "identity.address"),
    ("hr_bureau", "awards", "mobile", "identity.mobile"),
    ("licensing_authority", "officer_appointment", "address", "identity.address"),
    ("education_bureau", "scholarship", "mobile", "identity.mobile"),
])
def test_a_rule_on_a_kind_that_opens_a_category_is_reported(
        scratch: Path, party: str, purpose: str, kind: str, opened: str) -> None:
    # A rule on a kind reaches every category holding the kind: an allow on it gave the
    # exit-entry check the identity record's address, a category it reads nothing else of.
    assert not [f for f in validate_policy(scratch) if f.severity != "info"
                and opened in f.message and "alone" in f.message]
    with (scratch / "policy.csv").open("a", encoding="utf-8") as out:
        out.write(f"p, {party}, {kind}, read_masked, {purpose}, allow,\n")
    found = [f for f in validate_policy(scratch) if opened in str(f) and "alone" in str(f)]
    assert found and all(f.severity == "warning" for f in found), found
