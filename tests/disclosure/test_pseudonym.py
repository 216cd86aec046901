"""Audience pseudonyms (gateway.crypto.blind_index.pseudonym): keyed, framed, per audience."""

from __future__ import annotations

import pytest

from gateway.crypto.blind_index import blind_index, pseudonym
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
