"""What every kind of test case table in policies/tests/*.toml must be: a table of known
keys with the required ones present, naming exactly one of a party or a role."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["check_case_table"]


def check_case_table(raw: Any, *, known: Collection[str], required: Collection[str],
                     what: str = "case") -> None:
    """Refuse a malformed case table; raises ValueError saying what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"a {what} is a table of keys")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: "
                         f"{', '.join(sorted(known))})")
    missing = [k for k in required if k not in raw]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for key in ("party", "role"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise ValueError(f"'{key}' must be a non-empty string")
    if ("party" in raw) == ("role" in raw):
        raise ValueError("name exactly one of party = \"...\" or role = \"...\"")
