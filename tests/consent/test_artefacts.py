"""Consent artefacts: one canonical form, signed by the issuer, parsed strictly."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from gateway.consent.artefacts import new_terms, parse_artefact, sign_terms
from gateway.crypto.signatures import load_signing_key, load_verify_key, verify
from gateway.errors import BadSignature, InvalidArgument
from tests.support import ADULT, KEYS, NOW


def terms(**overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "subject_id": ADULT, "grantee": "credit_agency", "purpose": "authorised_query",
        "categories": ["identity", "dishonest_debtor", "identity"], "not_before": NOW,
        "not_after": NOW + timedelta(days=30), "max_uses": 2, "issuer": "citizen_portal",
        "issued_at": NOW,
    }
    values.update(overrides)
    return new_terms(**values)  # type: ignore[arg-type]


def test_canonical_bytes_round_trip_and_sort_categories() -> None:
    t = terms()
    assert t.categories == ("dishonest_debtor", "identity")
    parsed = parse_artefact(t.canonical_bytes())
    assert parsed == t
    assert b" " not in t.canonical_bytes()


@given(uses=st.integers(min_value=1, max_value=2**31), days=st.integers(1, 3650),
       categories=st.lists(st.sampled_from(["identity", "dishonest_debtor", "violations",
                                            "tax_rating"]), min_size=1, unique=True))
def test_the_signed_form_is_rfc8785(uses: int, days: int, categories: list[str]) -> None:
    """What the portal signs is the JSON Canonicalization Scheme of the terms, no other."""
    t = terms(max_uses=uses, not_after=NOW + timedelta(days=days), categories=categories)
    data = t.canonical_bytes()
    assert data == rfc8785.dumps(json.loads(data))
    assert parse_artefact(data) == t


@pytest.mark.parametrize("mutate", [
    lambda b: b.replace(b'"credit_agency"', b'"credit\\u005fagency"'),  # escaped: not JCS
    lambda b: b.replace(b'"max_uses":2', b'"max_uses":2.0'),  # a number not as JCS writes it
    lambda b: b.replace(b'{"categories"', b'{"v":1,"categories"').replace(b',"v":1}', b"}"),
], ids=["escaped-character", "float-integer", "keys-out-of-order"])
def test_equal_json_in_another_byte_form_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    data = terms().canonical_bytes()
    changed = mutate(data)
    assert changed != data
    with pytest.raises(InvalidArgument):
        parse_artefact(changed)


def test_repr_hides_the_subject() -> None:
    assert ADULT not in repr(terms())


def test_signature_verifies_with_the_portal_key_only() -> None:
    artefact, signature = sign_terms(terms(), load_signing_key(
        KEYS / "parties" / "citizen_portal.sign.key"))
    verify(load_verify_key(KEYS / "parties" / "citizen_portal.sign.pub"), artefact, signature)
    with pytest.raises(BadSignature):
        verify(load_verify_key(KEYS / "parties" / "credit_agency.sign.pub"), artefact,
               signature)
    with pytest.raises(BadSignature):
        verify(load_verify_key(KEYS / "parties" / "citizen_portal.sign.pub"),
               artefact.replace(b'"max_uses":2', b'"max_uses":9'), signature)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: json.dumps(d, sort_keys=True).encode(),  # whitespace: not canonical
        lambda d: json.dumps({**d, "extra": 1}, sort_keys=True, separators=(",", ":")).encode(),
        lambda d: json.dumps({k: v for k, v in d.items() if k != "max_uses"}, sort_keys=True,
                             separators=(",", ":")).encode(),
        lambda d: json.dumps({**d, "v": 2}, sort_keys=True, separators=(",", ":")).encode(),
        lambda d: json.dumps({**d, "not_after": "tomorrow"}, sort_keys=True,
                             separators=(",", ":")).encode(),
        lambda d: b"\xff\xfe",
        lambda d: b"[]",
    ],
    ids=["whitespace", "extra-field", "missing-field", "wrong-version", "bad-instant",
         "not-utf8", "not-an-object"],
)
def test_non_canonical_or_malformed_artefacts_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(terms().canonical_bytes())
    with pytest.raises(InvalidArgument) as info:
        parse_artefact(mutate(doc))
    assert ADULT not in str(info.value)


def test_oversized_artefact_refused() -> None:
    with pytest.raises(InvalidArgument, match="too large"):
        parse_artefact(b"{" + b" " * 10_000 + b"}")
