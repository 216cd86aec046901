"""The declared shape of a test case file, policies/tests/*.toml: ``[[case]]`` decision
cases (gateway.policy.testing) and ``[[quota]]`` cases (gateway.policy.quota_cases).

A file is read into ``CaseFile`` (gateway.strict_toml), which refuses an unknown table or
key, a missing required key and a value of the wrong type with the file, line and key
path (``tests/a.toml:14: unknown key case[1].consnet``); names the policy must know are
checked by each loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.strict_toml import Table, decode, read_toml

__all__ = ["MAX_CALLS", "CaseFile", "CaseTable", "QuotaCaseTable", "read_case_file", "subject"]

#: The most calls one quota case may play (a case is a test, not a load run).
MAX_CALLS = 100_000
#: A text that must say something (a name, a code, the reason for a case).
Text = Annotated[str, Meta(pattern=r"\S", description="a non-empty string")]
Expect = Annotated[Literal["allow", "deny"], Meta(description='"allow" or "deny"')]


class CaseTable(Table):
    """One ``[[case]]``: a request and the decision expected (testing.py explains it)."""

    name: Text
    purpose: Text
    object: Text
    action: Text
    expect: Expect
    why: Text
    party: Text | None = None
    role: Text | None = None
    consent: bool = False
    subject_age: Annotated[int, Meta(ge=0, le=150, description="a whole number of years "
                                                               "(0-150)")] | None = None


class QuotaCaseTable(Table):
    """One ``[[quota]]``: a run of calls and what the last one gets (quota_cases.py)."""

    name: Text
    purpose: Text
    calls: Annotated[int, Meta(ge=1, le=MAX_CALLS,
                               description=f"a whole number from 1 to {MAX_CALLS:,}")]
    expect: Expect
    why: Text
    party: Text | None = None
    role: Text | None = None
    subjects: Annotated[int, Meta(ge=1, le=MAX_CALLS,
                                  description=f"a whole number from 1 to {MAX_CALLS:,}")] = 1
    seconds: Annotated[float, Meta(ge=0, le=7 * 86_400, description="a number from 0 to a "
                                                                    "week (604800)")] = 0.0
    limit: str = ""


class CaseFile(Table):
    """A test case file: decision cases and quota cases."""

    case: list[CaseTable] = msgspec.field(default_factory=list)
    quota: list[QuotaCaseTable] = msgspec.field(default_factory=list)


def read_case_file(path: Path) -> tuple[CaseFile, str]:
    """A test case file and its text (for the lines of its cases); raises
    ConfigurationError naming the file and line of what is wrong."""
    doc, text = read_toml(path, str(path))
    return decode(doc, CaseFile, file=str(path), text=text), text


def subject(table: CaseTable | QuotaCaseTable) -> tuple[str, bool]:
    """The party or role a case names, and whether it is a role; raises ValueError unless
    it names exactly one."""
    if (table.party is None) == (table.role is None):
        raise ValueError("name exactly one of party = \"...\" or role = \"...\"")
    return (table.role, True) if table.role is not None else (str(table.party), False)
