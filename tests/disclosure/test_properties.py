"""Property tests: maskers never return a sensitive original and never raise on any text."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto.blind_index import pseudonym
from gateway.crypto.keyring import generate_keyring
from gateway.pii.idnumber import make_id_number
from gateway.pii.masks import mask_keep
from gateway.pii.scanner import mask_free_text, scan
from gateway.protect.masking import MASKERS, mask_value
from gateway.protect.operators import FIELD_TYPES, GENERALISERS, SENSITIVE_TYPES, TYPE_MASKS
from gateway.protect.profiles import AUDIENCES, MaskContext, MaskingProfiles
from tests.support import POLICIES

KEYRING = generate_keyring()
PROFILES = MaskingProfiles.load(POLICIES, keyring=KEYRING)
# Any text without lone surrogates (what a decoded UTF-8 field can hold).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
LONG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=2000, max_size=6000)
CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6)
ID_NUMBERS = st.builds(
    make_id_number,
    st.sampled_from(["110105", "310115", "330106", "440305", "540102", "650102"]),
    st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
FAST = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.sampled_from(sorted(SENSITIVE_TYPES)), TEXT)
def test_sensitive_maskers_never_return_the_original(field_type: str, value: str) -> None:
    assert mask_value(field_type, value) != value


@FAST
@given(st.sampled_from(sorted(FIELD_TYPES | {"unknown"})), TEXT)
def test_every_masker_accepts_any_text(field_type: str, value: str) -> None:
    assert isinstance(mask_value(field_type, value), str)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TYPE_MASKS)), LONG_TEXT)
def test_maskers_accept_very_long_text(field_type: str, value: str) -> None:
    assert isinstance(MASKERS[field_type](value), str)


@FAST
@given(st.sampled_from(sorted(GENERALISERS)), TEXT)
def test_generalisers_accept_any_text(field_type: str, value: str) -> None:
    assert isinstance(GENERALISERS[field_type](value), str)


@FAST
@given(TEXT, st.integers(-3, 30), st.integers(-3, 30))
def test_mask_keep_always_masks_something(value: str, first: int, last: int) -> None:
    masked = mask_keep(value, first, last)
    shown = len(masked) - masked.count("*")
    assert "*" in masked and shown <= max(0, len(value) - 1)


@FAST
@given(CJK, CJK)
def test_chinese_names_keep_only_the_surname(surname: str, given_name: str) -> None:
    name = surname[:1] + given_name
    masked = mask_value("person_name", name)
    assert masked != name and masked.endswith("*") and masked[-len(given_name):] != given_name


@FAST
@given(TEXT, ID_NUMBERS, TEXT)
def test_free_text_with_an_id_is_always_changed(before: str, id_number: str, after: str) -> None:
    text = f"{before} {id_number} {after}"
    masked = mask_free_text(text)
    assert masked != text and id_number not in masked


@FAST
@given(TEXT, st.lists(TEXT, max_size=3))
def test_scanner_accepts_any_text_and_names(text: str, names: list[str]) -> None:
    findings = scan(text, names=names)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)
    assert all(a.end <= b.start for a, b in pairwise(findings))
    assert isinstance(mask_free_text(text, names=names), str)


@FAST
@given(st.sampled_from(AUDIENCES), st.sampled_from(sorted(FIELD_TYPES)), TEXT,
       st.lists(TEXT, max_size=2))
def test_profiles_accept_any_text(audience: str, field_type: str, value: str,
                                  names: list[str]) -> None:
    out = PROFILES.apply(audience, field_type, value, context=MaskContext(names=tuple(names)))
    assert out is None or isinstance(out, str)


@FAST
@given(st.sampled_from(sorted(SENSITIVE_TYPES)), TEXT)
def test_public_profile_never_publishes_a_sensitive_original(field_type: str, value: str
                                                              ) -> None:
    assert PROFILES.apply("public", field_type, value) != value


@FAST
@given(TEXT, st.sampled_from(AUDIENCES), st.sampled_from(AUDIENCES))
def test_pseudonyms_are_stable_per_audience_and_differ_across(value: str, one: str,
                                                              other: str) -> None:
    token = pseudonym(KEYRING, audience=one, value=value)
    assert token == pseudonym(KEYRING, audience=one, value=value)
    assert (token == pseudonym(KEYRING, audience=other, value=value)) == (one == other)


@FAST
@given(ID_NUMBERS)
def test_profile_pseudonyms_ignore_how_the_id_is_written(id_number: str) -> None:
    spaced = f" {id_number[:6]} {id_number[6:14]} {id_number[14:].lower()} "
    public = PROFILES.apply("public", "id_number", id_number)
    assert public == PROFILES.apply("public", "id_number", spaced)
    assert public != PROFILES.apply("credit_agency", "id_number", id_number)
    assert public is not None and id_number not in public
