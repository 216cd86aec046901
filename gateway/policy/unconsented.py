"""Validation: credit agencies and the public website read nothing without consent.

A credit agency may read a person only with the person's consent (credit reporting
regulation art. 18), and the public website only publishes through the reviewed feed.
A rule that lets either read a category for a purpose that needs no consent (a
personnel check such as cadre selection) is how one bundle once gave an agency every
field of a person; `credgate policy validate` warns about each such category.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.policy.conditions import ADULT_AGE, ConditionContext

if TYPE_CHECKING:
    from gateway.policy.validate import PolicySet

#: Party kinds (parties.toml) that must never read a person without consent.
CONSENT_ONLY_KINDS = ("credit_agency", "website")
_READS = ("read", "read_masked")


def unconsented_reads(ps: PolicySet) -> Iterable[tuple[int, str]]:
    """(policy.csv line, message) per party, purpose and category read without consent."""
    contexts = [ConditionContext(consent_presented=False, subject_age=age)
                for age in (ADULT_AGE - 1, ADULT_AGE + 12)]
    seen: set[tuple[str, str, str]] = set()
    for party in ps.catalogue.parties.values():
        if party.kind not in CONSENT_ONLY_KINDS:
            continue
        for purpose in ps.catalogue.purposes.values():
            if not purpose.queryable or purpose.consent_required:
                continue  # consent purposes: the consent condition is checked elsewhere
            for category in ps.catalogue.categories.values():
                for field in category.fields:
                    obj = category.object_name(field)
                    decision = next(
                        (d for act in _READS for ctx in contexts
                         if (d := ps.engine.decide(party.id, obj, act, purpose.code,
                                                   ctx)).allowed), None)
                    key = (party.id, purpose.code, category.code)
                    if decision is None or key in seen:
                        continue
                    seen.add(key)
                    line = decision.rule.line if decision.rule is not None else 0
                    yield line, (f"{party.id} ({party.kind}) may read {category.code} for "
                                 f"{purpose.code} without the person's consent: a "
                                 f"{party.kind.replace('_', ' ')} reads a person only "
                                 "with consent")
