"""The keys catalogue.toml, parties.toml, purposes.toml and limits.toml may hold, declared
once.

A misspelt key (``publc = true``) would otherwise be read as absent and its default
applied silently (a category meant to stay off the public feed, a purpose meant to need
consent), so every table is checked against this schema at load and an unknown key is
refused with its file and key path. masking.toml checks its own keys (profiles.py).

A schema is a table of key -> schema; ``None`` is a value (string, number, list...),
``ANY`` as the only key stands for codes chosen by the policy author (category, party,
severity codes), each with the schema it maps to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigurationError

__all__ = ["ANY", "CATALOGUE_KEYS", "LIMITS_KEYS", "PARTIES_KEYS", "PURPOSES_KEYS",
           "SHARING_KEYS", "Schema", "check_keys"]

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
                                            "disclosure_delay_days": None}}}

#: Quotas (gateway.policy.limits).
LIMITS_KEYS: Schema = {"limits": {ANY: {
    "party": None, "role": None, "purpose": None, "calls_per_minute": None,
    "calls_per_day": None, "subjects_per_minute": None, "subjects_per_day": None,
    "burst": None, "why": None}}}
SHARING_KEYS: Schema = {"sharing": {ANY: {"name": None, "name_zh": None, "purpose": None,
                                          "send": {ANY: None}, "receive": None}}}


def check_keys(doc: Mapping[str, Any], schema: Schema, file: str) -> None:
    """Refuse a key the schema does not declare; raises ConfigurationError naming
    the file and the key path (``catalogue.toml: unknown key categories.x.publc``)."""
    _check(doc, schema, file, ())


def _check(table: Mapping[str, Any], schema: Schema, file: str, path: tuple[str, ...]) -> None:
    for key, value in table.items():
        where = ".".join((*path, key))
        sub = schema[ANY] if ANY in schema else schema.get(key, _UNKNOWN)
        if sub is _UNKNOWN:
            raise ConfigurationError(f"{file}: unknown key {where}")
        if sub is None:
            continue  # a value; its type and range are checked where it is parsed
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{file}: {where} must be a table")
        _check(value, sub, file, (*path, key))


_UNKNOWN: Schema = {}
