"""The keys the policy files may hold, declared once: catalogue, parties, purposes, limits,
sharing, masking.

A misspelt key (``publc = true``) would otherwise be read as absent and its default
applied silently (a category meant to stay off the public feed, a purpose meant to need
consent), so every table is checked against this schema at load and an unknown key is
refused with its file, line and key path (``catalogue.toml:212: unknown key
categories.x.publc``); ``policy validate`` reports it like its other errors.

A schema is a table of key -> schema; ``None`` is a value (string, number, list...),
``ANY`` stands for codes chosen by the policy author (category, party, severity codes,
masking audiences), each with the schema it maps to; keys named beside it are checked
against their own schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigurationError

__all__ = ["ANY", "CATALOGUE_KEYS", "LIMITS_KEYS", "MASKING_KEYS", "MONITORING_KEYS",
           "PARTIES_KEYS", "PURPOSES_KEYS", "SHARING_KEYS", "Schema", "check_keys", "key_line"]

ANY = "*"
Schema = Mapping[str, "Schema | None"]

_NAMED: Schema = {"name": None, "name_zh": None}
_FIELD: Schema = {"type": None, "kind": None, "values": None, "required": None,
                  "sensitive": None, "max": None}
_CATEGORY: Schema = {
    "name": None, "name_zh": None, "providers": None, "polarity": None, "severities": None,
    "groups": None, "public": None, "min_subject_age": None, "public_severities": None,
    "display": {ANY: None}, "display_from": None,
    "repair": {"after_months": {ANY: None}, "approver": None},
    "publish_with_agreement": None, "publish_within_days": None,
    "publish_within_working_days": None,
    "cites": {ANY: None}, "remits": {ANY: {ANY: None}}, "provenance": None,
    "fields": {ANY: _FIELD},
}

CATALOGUE_KEYS: Schema = {
    "max_batch": None, "max_field_chars": None, "objection_answer_days": None,
    "complaint_answer_days": None, "repair_evidence": None,
    "severities": {ANY: _NAMED},
    "groups": {ANY: {"name": None, "name_zh": None, "parents": None}},
    "domains": {ANY: _NAMED},
    "occupations": {ANY: _NAMED},
    "counties": {ANY: {"name": None, "name_zh": None, "division": None}},
    "behaviours": {ANY: {"name": None, "name_zh": None, "key_supervision": None}},
    "field_values": {ANY: None},
    "working_calendar": {"days_off": None, "working_weekends": None},
    "green_channel": {"clean_years": None, "positive_unless": None, "purpose": None},
    "incentives": {ANY: {"name": None, "name_zh": None, "area_zh": None, "authority": None,
                         "basis": None, "categories": None, "clean_years": None,
                         "min_records": None, "purpose": None}},
    "measures": {ANY: {"name": None, "name_zh": None, "authority": None, "basis": None,
                       "behaviours": None, "categories": None, "purpose": None,
                       "severities": None}},
    "categories": {ANY: _CATEGORY},
}
PARTIES_KEYS: Schema = {"parties": {ANY: {"name": None, "name_zh": None, "kind": None,
                                          "roles": None, "consent_issuer": None,
                                          "county": None, "counterpart": None}}}
PURPOSES_KEYS: Schema = {"purposes": {ANY: {"name": None, "name_zh": None, "legal_basis": None,
                                            "consent_required": None, "query": None,
                                            "disclosure_delay_days": None,
                                            "mandatory_check": None}}}
#: policies/monitoring.toml: anomaly rules over the audit stream (gateway/monitoring).
MONITORING_KEYS: Schema = {"rules": {ANY: {
    "kind": None, "severity": None, "explanation": None, "explanation_zh": None,
    "actions": None, "purposes": None, "reasons": None, "party_kinds": None,
    "decision": None, "factor": None, "min_calls": None, "warmup_weeks": None,
    "night_start": None, "night_end": None, "window_minutes": None, "count": None,
    "share": None, "learn_days": None, "agencies": None, "max_tracked": None}}}

#: Quotas (gateway.policy.limits).
LIMITS_KEYS: Schema = {"limits": {ANY: {
    "party": None, "role": None, "purpose": None, "calls_per_minute": None,
    "calls_per_day": None, "subjects_per_minute": None, "subjects_per_day": None,
    "burst": None, "why": None}}}
SHARING_KEYS: Schema = {"sharing": {ANY: {"name": None, "name_zh": None, "purpose": None,
                                          "send": {ANY: None}, "receive": None}}}


#: masking.toml: a version, then one table per audience (gateway.protect.profiles).
MASKING_KEYS: Schema = {"version": None,
                        ANY: {"description": None, "default": None, "types": {ANY: None},
                              "fields": {ANY: None}}}


def check_keys(doc: Mapping[str, Any], schema: Schema, file: str, text: str = "") -> None:
    """Refuse a key the schema does not declare; raises ConfigurationError naming the
    file, the line (found in ``text``, the file as read) and the key path."""
    _check(doc, schema, file, (), text)


def _check(table: Mapping[str, Any], schema: Schema, file: str, path: tuple[str, ...],
           text: str) -> None:
    for key, value in table.items():
        where = ".".join((*path, key))
        sub = schema.get(key, schema.get(ANY, _UNKNOWN))
        if sub is _UNKNOWN:
            raise ConfigurationError(f"{_at(file, text, where)}: unknown key {where}")
        if sub is None:
            continue  # a value; its type and range are checked where it is parsed
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{_at(file, text, where)}: {where} must be a table")
        _check(value, sub, file, (*path, key), text)


def _at(file: str, text: str, dotted: str) -> str:
    line = key_line(text, dotted)
    return f"{file}:{line}" if line else file


def key_line(text: str, dotted: str) -> int:
    """The line of a TOML text that sets the key at a dotted path, as `key =` under its
    table's header or as a `[header]` of its own (0 when not found, e.g. inline)."""
    table, _, key = dotted.rpartition(".")
    current = ""
    for number, line in enumerate(text.split("\n"), start=1):
        if header := re.match(r"^\s*\[+\s*([\w.-]+)\s*\]", line):
            current = header[1]
            if current == dotted or current.startswith(dotted + "."):
                return number
        elif current == table and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return 0


_UNKNOWN: Schema = {}
