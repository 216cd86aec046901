"""Named conditions that policy rules may carry in their `cond` column.

A rule names a condition; the gateway calls the Python function registered under that
name with the facts of the request (`ConditionContext`). Policy text is never evaluated
as code, so a policy file can only choose among the conditions listed here.

An unknown name evaluates to False (fail closed for allow rules). Because a false
condition would also switch a *deny* rule off, the policy engine refuses to load a
policy that names an unknown condition at all (see `unknown_conditions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class ConditionContext:
    """The facts about one request that conditions may look at."""

    consent_presented: bool = False
    subject_age: int | None = None
    now: datetime | None = None


ConditionFn = Callable[[ConditionContext], bool]

_REGISTRY: dict[str, ConditionFn] = {}


def condition(name: str) -> Callable[[ConditionFn], ConditionFn]:
    """Register the decorated function as condition `name`; raises ValueError if taken."""

    def register(fn: ConditionFn) -> ConditionFn:
        if name in _REGISTRY:
            raise ValueError(f"condition '{name}' is already registered")
        _REGISTRY[name] = fn
        return fn

    return register


def get_condition(name: str) -> ConditionFn | None:
    """The function registered under `name`, or None when there is none."""
    return _REGISTRY.get(name)


def evaluate(name: str, ctx: ConditionContext) -> bool:
    """Whether condition `name` holds for `ctx`; False for an unknown name."""
    fn = _REGISTRY.get(name)
    # bool(): Casbin insists that a matcher yields a real bool.
    return False if fn is None else bool(fn(ctx))


def unknown_conditions(names: Iterable[str]) -> list[str]:
    """The names among `names` that no condition is registered under, sorted."""
    return sorted({n for n in names if n not in _REGISTRY})


def registered_conditions() -> tuple[str, ...]:
    """Every registered condition name, sorted (the empty name included)."""
    return tuple(sorted(_REGISTRY))


@condition("")
def _always(ctx: ConditionContext) -> bool:
    """An empty `cond` column: the rule has no condition."""
    return True


@condition("consent")
def _consent(ctx: ConditionContext) -> bool:
    """The caller presented the person's consent artefact (verified in the consent step)."""
    return ctx.consent_presented


@condition("subject_adult")
def _subject_adult(ctx: ConditionContext) -> bool:
    """The person is known to be at least 18; an unknown age does not count as adult."""
    return ctx.subject_age is not None and ctx.subject_age >= ADULT_AGE
