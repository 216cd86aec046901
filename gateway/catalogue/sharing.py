"""The sharing catalogue (policies/sharing.toml): what goes to which peer, and what is
accepted from which.

    [sharing.province]                 # a party: a peer platform or a subscriber
    purpose = "platform_sharing"       # the purpose the decide step weighs the push under
    send = { dishonest_debtor = "full", major_tax_violation = "summary" }
    receive = ["dishonest_debtor"]     # from a platform only: stored read-only here

Levels of detail: ``full`` sends every field the policy releases to the peer for the
purpose (clear or masked, through the same protect step as a query); ``summary`` sends
the record without its fields (category, severity, dates, provider): enough for a check.
The file is optional; without it nothing is shared or accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalogue.policy_keys import SharingFile
from gateway.errors import ConfigurationError
from gateway.strict_toml import decode, read_toml

FILE = "sharing.toml"
FULL = "full"
SUMMARY = "summary"
DETAILS = (FULL, SUMMARY)
#: The role a party needs to push records here (gateway.identify.trust.PLATFORM_ROLE).
PLATFORM_ROLE = "platform"


@dataclass(frozen=True, slots=True)
class SharingRule:
    """What one peer gets from this platform and what this platform takes from it."""

    peer: str
    purpose: str
    #: category -> level of detail (FULL or SUMMARY)
    send: Mapping[str, str]
    receive: frozenset[str]


def load_sharing(policies_dir: Path, *, parties: Mapping[str, Any],
                 categories: Mapping[str, Any], purposes: Mapping[str, Any]
                 ) -> dict[str, SharingRule]:
    """Read sharing.toml (absent: nothing shared); raises ConfigurationError naming the
    table for an unknown party, category, purpose or level."""
    path = policies_dir / FILE
    if not path.exists():
        return {}
    doc, text = read_toml(path)
    rules: dict[str, SharingRule] = {}
    for peer, raw in decode(doc, SharingFile, file=FILE, text=text).sharing.items():
        where = f"{FILE} [sharing.{peer}]"
        if peer not in parties:
            raise ConfigurationError(f"{where}: unknown party")
        purpose, send, receive = raw.purpose, raw.send, raw.receive
        if purpose not in purposes:
            raise ConfigurationError(f"{where}: unknown purpose '{purpose}'")
        for code in (*send, *receive):
            if code not in categories:
                raise ConfigurationError(f"{where}: unknown category '{code}'")
        for code, detail in send.items():
            if detail not in DETAILS:
                raise ConfigurationError(f"{where}: send.{code} must be one of "
                                         f"{', '.join(DETAILS)}")
        if receive and PLATFORM_ROLE not in parties[peer].roles:
            raise ConfigurationError(f"{where}: only a party with the role "
                                     f"{PLATFORM_ROLE} may send records here")
        rules[peer] = SharingRule(peer=peer, purpose=purpose, send=send,
                                  receive=frozenset(receive))
    return rules


def routes(rules: Mapping[str, SharingRule]) -> dict[str, tuple[str, ...]]:
    """category -> the peers its records go to (what the store's outbox fans out to)."""
    out: dict[str, list[str]] = {}
    for rule in rules.values():
        for code in rule.send:
            out.setdefault(code, []).append(rule.peer)
    return {code: tuple(sorted(peers)) for code, peers in out.items()}
