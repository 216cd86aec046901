"""Counties (县区): their code list, county parties and the county each record belongs to.

The plan makes counties responsible for their own collection. A county party (a county
government or one of its departments) names its county in parties.toml, and may name
its city counterpart (``counterpart = "market_regulator"``): it then holds every rule of
the counterpart and provides what the counterpart provides, but only for its county. The
county's own policy lines add only its differences, naming the county party or the
county itself (the county code is a role every party of the county holds), so no city
rule is copied. Deny overrides allow as everywhere, so a county can narrow a city rule
but never lift a city deny.

A record carries the county it belongs to ("" for a city-wide record). A county party
submits only records of its county and reads only those; its yes/no checks count every
record of the person (一处失信，处处受限), as they release none of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from gateway.catalogue.policy_keys import CountyTable
from gateway.errors import ConfigurationError, InvalidArgument, PermissionDenied

if TYPE_CHECKING:
    from gateway.catalogue.registry import Category, Party

_CODE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class County:
    """A county-level division of the city (区, 县, 县级市)."""

    code: str
    name: str
    name_zh: str
    #: Its GB/T 2260 administrative division code (米易县: 510421).
    division: str


def parse_counties(tables: Mapping[str, CountyTable]) -> dict[str, County]:
    """The ``[counties]`` table of catalogue.toml (its division codes already have their
    form, policy_keys.CountyTable); raises ConfigurationError."""
    out: dict[str, County] = {}
    divisions: dict[str, str] = {}
    for code, entry in tables.items():
        where = f"catalogue.toml [counties.{code}]"
        if not _CODE.fullmatch(code):
            raise ConfigurationError(f"{where}: a county code is lower-case letters, digits, _")
        division = entry.division
        if division in divisions:
            raise ConfigurationError(f"{where}: division {division} is also "
                                     f"{divisions[division]}'s")
        divisions[division] = code
        out[code] = County(code=code, name=entry.name, name_zh=entry.name_zh,
                           division=division)
    return out


def check_county_parties(parties: Mapping[str, Party], counties: Mapping[str, County]) -> None:
    """Every county party names a known county and a city counterpart of its kind;
    raises ConfigurationError."""
    for party in parties.values():
        where = f"parties.toml [parties.{party.id}]"
        if party.county and party.county not in counties:
            raise ConfigurationError(f"{where}: unknown county '{party.county}'")
        if not party.counterpart:
            continue
        if not party.county:
            raise ConfigurationError(f"{where}: only a county party has a counterpart")
        city = parties.get(party.counterpart)
        if city is None:
            raise ConfigurationError(f"{where}: unknown counterpart '{party.counterpart}'")
        if city.county or city.kind != party.kind:
            raise ConfigurationError(f"{where}: the counterpart must be a city party of kind "
                                     f"'{party.kind}'")
    clash = set(counties) & set(parties)
    if clash:
        raise ConfigurationError(f"county codes used as party ids: {sorted(clash)}")


def county_role_edges(parties: Iterable[Party]) -> list[tuple[str, str]]:
    """The `g` edges a county party holds: its city counterpart and its county."""
    edges: list[tuple[str, str]] = []
    for party in parties:
        if party.counterpart:
            edges.append((party.id, party.counterpart))
        if party.county:
            edges.append((party.id, party.county))
    return edges


_C = TypeVar("_C", bound="Category")


def with_county_providers(categories: Mapping[str, _C],
                          parties: Mapping[str, Party]) -> dict[str, _C]:
    """Categories whose providers (and per-field remits) include each county party whose
    counterpart provides them: the county collects what the city department collects."""
    out: dict[str, _C] = {}
    for code, cat in categories.items():
        extra = {p.id: p.counterpart for p in parties.values()
                 if p.counterpart and p.counterpart in cat.providers}
        if not extra:
            out[code] = cat
            continue
        remits = {fcode: {**by_provider,
                          **{pid: by_provider[city] for pid, city in extra.items()
                             if city in by_provider}}
                  for fcode, by_provider in cat.remits.items()}
        out[code] = replace(cat, providers=cat.providers | frozenset(extra), remits=remits)
    return out


def check_record_county(county: str, *, index: int, party: Party,
                        counties: Mapping[str, County]) -> None:
    """A record's county must be a catalogue code, and a county party's own county; raises
    InvalidArgument for an unknown code and PermissionDenied outside the party's county."""
    if county and county not in counties:
        raise InvalidArgument(f"record {index}: unknown county code", reason="unknown_county")
    if party.county and county != party.county:
        raise PermissionDenied(f"record {index}: the record's county is outside the remit "
                               f"of {party.id}", reason="outside_county")


def in_county_scope(party: Party, county: str) -> bool:
    """Whether a party may read a record of this county (a city party reads every county)."""
    return not party.county or county == party.county
