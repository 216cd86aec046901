"""Audience pseudonyms (gateway.crypto.blind_index.pseudonym): keyed, framed, per audience."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from gateway.crypto.blind_index import blind_index, pseudonym, pseudonymiser
from gateway.crypto.keyring import generate_keyring
from gateway.errors import InvalidArgument

KEYRING = generate_keyring()


def test_stable_within_an_audience_different_across() -> None:
    one = pseudonym(KEYRING, audience="public", value="11010519900307021X")
    assert one == pseudonym(KEYRING, audience="public", value="11010519900307021X")
    assert one != pseudonym(KEYRING, audience="credit_agency", value="11010519900307021X")
    assert one != pseudonym(KEYRING, audience="public", value="11010519900307021x")


def test_format_and_key_id() -> None:
    token = pseudonym(KEYRING, audience="public", value="x")
    key_id, _, body = token.partition(":")
    assert key_id == KEYRING.active_pseudonym_id and len(body) == 20
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_token_is_the_documented_hmac() -> None:
    # Recomputed with the standard library, from the formula in the docstring.
    def frame(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    key_id = KEYRING.active_pseudonym_id
    message = frame(b"credgate/pseudonym/v1") + frame(b"public") + frame("张三".encode())
    mac = hmac.new(KEYRING.pseudonym_keys[key_id], message, hashlib.sha256).digest()
    expected = f"{key_id}:{base64.urlsafe_b64encode(mac[:15]).decode()}"
    assert pseudonym(KEYRING, audience="public", value="张三") == expected
    assert pseudonymiser(KEYRING, "public")("张三") == expected


def test_a_pseudonymiser_is_reusable_and_matches_one_off_tokens() -> None:
    token = pseudonymiser(KEYRING, "credit_agency")
    values = ["11010519900307021X", "", "a", "11010519900307021X"]
    assert [token(v) for v in values] == [
        pseudonym(KEYRING, audience="credit_agency", value=v) for v in values]
    with pytest.raises(InvalidArgument):
        pseudonymiser(KEYRING, "")


def test_framing_keeps_audience_and_value_apart() -> None:
    assert pseudonym(KEYRING, audience="ab", value="c") != pseudonym(KEYRING, audience="a",
                                                                      value="bc")


def test_another_key_gives_unrelated_tokens_and_never_a_blind_index() -> None:
    other = generate_keyring()
    value = "11010519900307021X"
    assert pseudonym(KEYRING, audience="public", value=value) != pseudonym(
        other, audience="public", value=value)
    assert pseudonym(KEYRING, audience="public", value=value).split(":")[1] not in blind_index(
        KEYRING, value)


def test_an_audience_is_required() -> None:
    with pytest.raises(InvalidArgument):
        pseudonym(KEYRING, audience="", value="x")


def test_any_text_is_accepted() -> None:
    assert pseudonym(KEYRING, audience="public", value="\ud800 lone surrogate")
