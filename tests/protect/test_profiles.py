"""Desensitisation profiles (policies/masking.toml): per-audience rules, fail closed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalogue.registry import Catalogue
from gateway.crypto.keyring import generate_keyring
from gateway.errors import ConfigurationError
from gateway.protect.operators import FIELD_TYPES
from gateway.protect.profiles import (
    AUDIENCES,
    MASKING_FILE,
    AudienceTable,
    MaskContext,
    MaskingProfiles,
    UnpublishableField,
    parse_profiles,
)
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import POLICIES

KEYRING = generate_keyring()
DOC: dict[str, Any] = tomllib.loads((POLICIES / "masking.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def profiles() -> MaskingProfiles:
    return MaskingProfiles.load(POLICIES, keyring=KEYRING)


def test_the_public_profile_names_every_type(profiles: MaskingProfiles) -> None:
    assert set(profiles.profiles["public"].types) == FIELD_TYPES
    assert profiles.profiles["public"].default is None


def test_every_public_category_field_has_a_public_rule(profiles: MaskingProfiles,
                                                       catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        for name, spec in category.fields.items():
            if category.public:
                profiles.step("public", spec.type, f"{category.code}.{name}")


@pytest.mark.parametrize(
    ("audience", "field_type", "value", "expected"),
    [
        ("public", "person_name", "欧阳明远", "欧阳**"),
        ("public", "mobile", "13812345678", None),
        ("public", "bank_card", "6228480012345671", None),
        ("public", "address", "北京市朝阳区建国路88号", "北京市朝阳区***"),
        ("public", "date", "1982-04-17", "1982"),
        ("public", "age", "44", "40-49"),
        ("public", "money", "120000.00", "120000.00"),
        ("public", "code", "SI-3301-0001", "[redacted]"),
        ("public", "uscc", "91350100M000100Y43", "91350100M000100Y43"),
        ("public", "org_name", "某市中级人民法院", "某市中级人民法院"),
        ("department", "id_number", "11010519900307021X", "110*************1X"),
        ("department", "bank_card", "6228 4800 1234 5671", "************5671"),
        ("department", "free_text", "任何叙述", "任何叙述"),
        ("department", "free_text", "联系电话13812345678", "联系电话138****5678"),
        ("credit_agency", "bank_card", "6228480012345671", None),
        ("credit_agency", "mobile", "+86 138 1234 5678", "138****5678"),
        ("self", "person_name", "欧阳明远", "欧阳明远"),
        ("self", "id_number", "11010519900307021X", "110105********021X"),
    ],
)
def test_rules(profiles: MaskingProfiles, audience: str, field_type: str, value: str,
               expected: str | None) -> None:
    assert profiles.apply(audience, field_type, value) == expected


def test_field_overrides(profiles: MaskingProfiles) -> None:
    case = MaskContext(field="dishonest_debtor.case_number")
    assert profiles.apply("public", "code", "(2026)浙01执1234号", context=case) == (
        "(2026)浙01执1234号")
    other = MaskContext(field="employment.social_insurance_no")
    assert profiles.apply("public", "code", "SI-1", context=other) == "[redacted]"


def test_free_text_is_scanned_with_the_subjects_names(profiles: MaskingProfiles) -> None:
    context = MaskContext(field="admin_penalty.reason", names=("欧阳明远",))
    out = profiles.apply("public", "free_text", "欧阳明远无照经营，电话13812345678",
                         context=context)
    assert out == "欧阳**无照经营，电话138****5678"


def test_public_pseudonyms(profiles: MaskingProfiles) -> None:
    one = profiles.apply("public", "id_number", "11010519900307021X")
    assert one == profiles.apply("public", "id_number", "11010519900307021x")
    assert one is not None and one.startswith(KEYRING.active_pseudonym_id + ":")
    assert one != profiles.apply("credit_agency", "id_number", "11010519900307021X")
    assert one != profiles.apply("public", "id_number", "540102198506151173")


def test_an_unknown_type_is_never_published(profiles: MaskingProfiles) -> None:
    with pytest.raises(UnpublishableField) as info:
        profiles.apply("public", "nickname", "小明",
                       context=MaskContext(field="dishonest_debtor.nickname"))
    assert info.value.field == "dishonest_debtor.nickname"
    assert "dishonest_debtor.nickname" in info.value.message and "小明" not in info.value.message
    with pytest.raises(UnpublishableField, match="of type 'nickname'"):
        profiles.apply("public", "nickname", "小明")


def test_a_field_name_with_personal_data_is_not_echoed(profiles: MaskingProfiles) -> None:
    with pytest.raises(UnpublishableField) as info:
        profiles.apply("public", "nickname", "x", context=MaskContext(field="欧阳明远"))
    assert "欧阳明远" not in info.value.message


def test_other_audiences_fall_back_to_their_default(profiles: MaskingProfiles) -> None:
    assert profiles.apply("department", "nickname", "小明") == "[redacted]"
    assert profiles.apply("credit_agency", "nickname", "小明") is None


def test_apply_record_drops_and_refuses(profiles: MaskingProfiles) -> None:
    types = {"debtor_name": "person_name", "mobile": "mobile"}
    values = {"debtor_name": "欧阳明远", "mobile": "13812345678"}
    assert profiles.apply_record("public", "dishonest_debtor", values, types) == {
        "debtor_name": "欧阳**"}
    with pytest.raises(UnpublishableField, match=r"dishonest_debtor\.secret"):
        profiles.apply_record("public", "dishonest_debtor", {**values, "secret": "x"}, types)


def test_unknown_audience_is_refused(profiles: MaskingProfiles) -> None:
    with pytest.raises(ConfigurationError):
        profiles.apply("journalist", "person_name", "欧阳明远")


def _broken(change: dict[str, Any]) -> dict[str, Any]:
    doc = {k: (dict(v, types=dict(v["types"]), fields=dict(v.get("fields", {})))
               if isinstance(v, dict) else v) for k, v in DOC.items()}
    for path, value in change.items():
        *parents, last = path.split("/")
        table = doc
        for key in parents:
            table = table[key]
        if value is None:
            del table[last]
        else:
            table[last] = value
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version"),
        ({"public": None}, "no profile for public"),
        ({"public/default": "redact"}, "default"),
        ({"department/default": "keep"}, "default must be redact or drop"),
        ({"public/types/person_name": "hide"}, "unknown operator"),
        ({"public/types/person_name": "mask:1"}, "unknown operator"),
        ({"public/types/code": "generalise"}, "cannot be generalised"),
        ({"public/types/horoscope": "keep"}, "unknown field type"),
        ({"public/fields/case_number": "keep"}, "category.field"),
        ({"public/colour": "red"}, "unknown key public.colour"),
        ({"public/types/person_name": None, "public/typs": {"person_name": "mask"}},
         "unknown key public.typs"),
    ],
)
def test_invalid_profiles_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MaskingProfiles.from_document(_broken(change), keyring=KEYRING)


def test_pseudonymise_needs_the_keyring() -> None:
    with pytest.raises(ConfigurationError, match="keyring"):
        MaskingProfiles.from_document(DOC)


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"masking\.toml is missing"):
        MaskingProfiles.load(tmp_path)
    (tmp_path / "masking.toml").write_text("version = [", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"masking\.toml is not valid TOML"):
        MaskingProfiles.load(tmp_path)


def test_every_audience_is_present(profiles: MaskingProfiles) -> None:
    assert set(AUDIENCES) <= set(profiles.profiles)


_TYPES = {"debtor_name": "person_name", "case_number": "code", "court_name": "org_name",
          "obligation": "free_text", "amount": "money", "address": "address",
          "mobile": "mobile", "bank_card": "bank_card"}
_POOLS = {
    "debtor_name": ["欧阳明远", "王芳", "阿依古丽·买买提", "李"],
    "case_number": ["(2026)浙01执1号", "(2026)京02执77号"],
    "court_name": ["杭州市中级人民法院", "北京市朝阳区人民法院"],
    "obligation": ["被执行人{n}拒不履行", "王芳拒不履行", "支付货款，联系电话138 0013 8000",
                   "{n}名下银行卡"],
    "amount": ["120000.00", "5.50"],
    "address": ["浙江省杭州市西湖区文三路100号", "北京市朝阳区建国路8号院", "未知"],
    "mobile": ["13800138000", "15912345678"],
    "bank_card": ["6222020200112233445", "6222021234567890128"],
}


@given(st.lists(st.fixed_dictionaries(
    {field: st.sampled_from(pool) for field, pool in _POOLS.items()}), min_size=1,
    max_size=12))
@settings(max_examples=60, deadline=None)
def test_a_batch_value_cache_changes_no_output(profiles: MaskingProfiles,
                                               batch: list[dict[str, str]]) -> None:
    # Issue 12: a feed keeps a value cache per batch; each record must come out exactly
    # as it would alone, whatever repeats (names differ per record and are never cached).
    seen: dict[tuple[str, str], str] = {}
    for drawn in batch:
        values = {f: v.replace("{n}", drawn["debtor_name"]) for f, v in drawn.items()}
        names = (values["debtor_name"],)
        alone = profiles.apply_record("public", "dishonest_debtor", values, _TYPES,
                                      names=names)
        assert profiles.apply_record("public", "dishonest_debtor", values, _TYPES,
                                     names=names, seen=seen) == alone


MASKING_GROUPS = grouped(variants(MASKING_FILE, (POLICIES / MASKING_FILE).read_text(
    encoding="utf-8"), dict[str, AudienceTable], drop=("version",)))


@pytest.mark.parametrize("group", MASKING_GROUPS, ids=[group_id(g) for g in MASKING_GROUPS])
def test_every_key_misspelt_or_mistyped_is_refused_at_its_line(group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: parse_profiles({"version": 1, **doc}, text),
              ConfigurationError, drop=("version",))


def test_every_kind_of_break_is_covered() -> None:
    # No key of an audience's table is required (a profile may name types or fields only).
    kinds = {v.kind for group in MASKING_GROUPS for v in group}
    assert kinds == {"misspelt", "misspelt in the file", "wrong type"}
