"""The registry of named conditions."""

from __future__ import annotations

import pytest

from gateway.policy import conditions
from gateway.policy.conditions import ConditionContext, evaluate, unknown_conditions


def test_empty_condition_always_holds() -> None:
    assert evaluate("", ConditionContext()) is True


def test_consent_holds_only_when_presented() -> None:
    assert evaluate("consent", ConditionContext(consent_presented=True)) is True
    assert evaluate("consent", ConditionContext(consent_presented=False)) is False


@pytest.mark.parametrize(("age", "expected"), [(None, False), (0, False), (17, False),
                                               (18, True), (60, True)])
def test_subject_adult_needs_a_known_age_of_18(age: int | None, expected: bool) -> None:
    assert evaluate("subject_adult", ConditionContext(subject_age=age)) is expected


def test_unknown_condition_evaluates_false() -> None:
    ctx = ConditionContext(consent_presented=True, subject_age=40)
    assert evaluate("full_moon", ctx) is False


def test_unknown_conditions_lists_only_unregistered_names_sorted_once() -> None:
    names = ["consent", "zeta", "", "alpha", "zeta", "subject_adult"]
    assert unknown_conditions(names) == ["alpha", "zeta"]
    assert unknown_conditions(["consent", ""]) == []


def test_registering_a_condition_makes_it_known_and_twice_is_refused() -> None:
    name = "test_only_has_clock"
    if conditions.get_condition(name) is None:

        @conditions.condition(name)
        def _has_clock(ctx: ConditionContext) -> bool:
            return ctx.now is not None

    assert name in conditions.registered_conditions()
    assert unknown_conditions([name]) == []
    with pytest.raises(ValueError, match="already registered"):
        conditions.condition(name)(lambda ctx: True)

