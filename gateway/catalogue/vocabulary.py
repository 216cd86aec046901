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

from gateway.catalogue.policy_keys import BEHAVIOURS, BehaviourTable, SomeCodes


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A coded dishonest behaviour (失信行为类型)."""

    code: str
    name: str
    name_zh: str
    #: A record in use with this behaviour makes the person a key supervision target.
    key_supervision: bool = False


def parse_behaviours(tables: Mapping[str, BehaviourTable]) -> dict[str, Behaviour]:
    """The `[behaviours]` table of catalogue.toml."""
    return {code: Behaviour(code=code, name=t.name, name_zh=t.name_zh,
                            key_supervision=t.key_supervision)
            for code, t in tables.items()}


def parse_field_values(table: Mapping[str, SomeCodes | str],
                       behaviours: Mapping[str, Behaviour]) -> dict[str, frozenset[str]]:
    """The `[field_values]` table: field name -> allowed codes (a list, or "behaviours")."""
    return {name: frozenset(behaviours) if values == BEHAVIOURS else frozenset(values)
            for name, values in table.items()}
