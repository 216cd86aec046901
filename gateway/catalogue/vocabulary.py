"""Coded values the catalogue defines for fields: behaviour types and party roles.

`[behaviours]` lists the serious dishonest behaviours the plan names (恶意逃废债务,
骗取财政资金, 围标串标, 非法集资, 电信诈骗, 骗取社会保险基金, 骗取保障住房 ...) and the
typed student misconduct; those marked `key_supervision` make a person a key supervision
target (重点监管对象) once a record in use carries one. `[field_values]` binds a field
name, wherever a category has it, to its allowed codes: a list, or the name of a
catalogue table (`"behaviours"`). Values outside the list refuse the record at intake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigurationError

BEHAVIOURS = "behaviours"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A coded dishonest behaviour (失信行为类型)."""

    code: str
    name: str
    name_zh: str
    #: A record in use with this behaviour makes the person a key supervision target.
    key_supervision: bool = False


def parse_behaviours(raw: Mapping[str, Any]) -> dict[str, Behaviour]:
    """The `[behaviours]` table of catalogue.toml; raises ConfigurationError."""
    out: dict[str, Behaviour] = {}
    for code, entry in dict(raw.get(BEHAVIOURS, {})).items():
        if not isinstance(entry, Mapping) or not entry.get("name") or not entry.get("name_zh"):
            raise ConfigurationError(f"catalogue.toml [behaviours.{code}]: needs name and "
                                     "name_zh")
        out[code] = Behaviour(code=code, name=str(entry["name"]),
                              name_zh=str(entry["name_zh"]),
                              key_supervision=bool(entry.get("key_supervision", False)))
    return out


def parse_field_values(raw: Mapping[str, Any], behaviours: Mapping[str, Behaviour]
                       ) -> dict[str, frozenset[str]]:
    """The `[field_values]` table: field name -> allowed codes; raises ConfigurationError."""
    out: dict[str, frozenset[str]] = {}
    for name, values in dict(raw.get("field_values", {})).items():
        if values == BEHAVIOURS:
            out[name] = frozenset(behaviours)
        elif isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            out[name] = frozenset(values)
        else:
            raise ConfigurationError(f"catalogue.toml [field_values] {name}: a list of codes "
                                     f"or \"{BEHAVIOURS}\"")
    return out
