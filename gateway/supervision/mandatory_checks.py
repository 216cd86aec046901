"""应查必查: the credit checks departments must make before certain decisions, counted.

Departments that select cadres, evaluate titles, grant awards or hold personnel exams
must check the person's credit first (purposes with ``mandatory_check = true``). Per
department, purpose and month (city time) this counts the checks made (allowed queries
and checks) and the distinct people checked, beside the number of decisions the
department declared (DeclareDecisions: an audit entry ``decisions.declare`` whose
``record_count`` is the number and whose reason names the month; the latest declaration
of a month counts). Decisions without a check are the declared decisions beyond the
people checked. Everything is read from the audit log; no ID number is needed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Catalogue
from gateway.clock import CITY_TIME
from gateway.policy.decide import PolicyEngine
from gateway.policy.validate import possible_contexts

DECLARE_ACTION = "decisions.declare"
_REASON = re.compile(r"month (20[0-9]{2}-(?:0[1-9]|1[0-2]))")


def may_check(engine: PolicyEngine, catalogue: Catalogue, party: str, purpose: str) -> bool:
    """Whether policy lets the party read or check anything for the purpose (in any
    situation a query can be in): only such a department has checks to declare."""
    known = catalogue.purposes.get(purpose)
    if known is None or not engine.concerns(party, purpose):
        return False
    objects = [c.object_name(f) for c in catalogue.categories.values() for f in c.fields]
    objects += list(catalogue.categories)
    return any(engine.decide(party, obj, action, purpose, ctx).allowed
               for ctx in possible_contexts(known) for obj in objects
               for action in ("read", "read_masked", "check"))


def declaration_reason(month: str) -> str:
    """The reason text of a declaration entry."""
    return f"month {month}"


@dataclass(frozen=True, slots=True)
class MandatoryCheckFigures:
    """One department's checks for one mandatory purpose in one month."""

    department: str
    name_zh: str
    purpose: str
    purpose_zh: str
    month: str
    checks: int
    people_checked: int
    #: Decisions the department declared; None when it declared none for the month.
    declared: int | None
    #: Declared decisions beyond the people checked; None without a declaration.
    without_check: int | None


@dataclass
class _Month:
    checks: int = 0
    subjects: set[str] | None = None
    declared: int | None = None


class MandatoryChecks:
    """Counts fed entry by entry (in seq order), then `figures()`."""

    def __init__(self, catalogue: Catalogue, query_actions: tuple[str, ...]) -> None:
        self._catalogue = catalogue
        self._purposes = {code for code, p in catalogue.purposes.items() if p.mandatory_check}
        self._actions = frozenset(query_actions)
        self._months: dict[tuple[str, str, str], _Month] = defaultdict(_Month)

    def add(self, entry: AuditEntry) -> None:
        """Count one audit entry if it is a mandatory check or a declaration."""
        if entry.purpose not in self._purposes or entry.decision != "allow":
            return
        if entry.action == DECLARE_ACTION:
            match = _REASON.fullmatch(entry.reason)
            if match is not None:  # the latest declaration of a month replaces earlier ones
                self._months[(entry.requester, entry.purpose, match.group(1))].declared = \
                    entry.record_count
        elif entry.action in self._actions:
            month = entry.time.astimezone(CITY_TIME).strftime("%Y-%m")
            row = self._months[(entry.requester, entry.purpose, month)]
            row.checks += 1
            if entry.subject_index:
                if row.subjects is None:
                    row.subjects = set()
                row.subjects.add(entry.subject_index)

    def figures(self) -> tuple[MandatoryCheckFigures, ...]:
        """One row per department, purpose and month, in that order."""
        parties, purposes = self._catalogue.parties, self._catalogue.purposes
        rows = []
        for (dept, purpose, month), m in sorted(self._months.items()):
            people = len(m.subjects or ())
            rows.append(MandatoryCheckFigures(
                department=dept, name_zh=parties[dept].name_zh if dept in parties else "",
                purpose=purpose, purpose_zh=purposes[purpose].name_zh, month=month,
                checks=m.checks, people_checked=people, declared=m.declared,
                without_check=None if m.declared is None else max(0, m.declared - people)))
        return tuple(rows)
