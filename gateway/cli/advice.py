"""What to do about a failure: one line naming the problem and the next step.

The gateway's messages never quote what the caller sent; the command line may, since
it speaks only to the person who typed it. Codes (purposes, categories, measures) are
catalogue data, not personal data, so a bad one is named with the nearest valid ones.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import grpc

from gateway.catalogue.registry import Catalogue

EXIT_REFUSED, EXIT_BROKEN = 1, 2
_REFUSALS = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
_TLS_WORDS = ("handshake", "ssl", "tls", "certificate", "cert ", "alert")


@lru_cache(maxsize=4)
def _catalogue(policies: Path) -> Catalogue | None:
    from gateway.catalogue.registry import load_catalogue

    try:
        return load_catalogue(policies)
    except Exception:  # suggestions are a convenience: no catalogue, no suggestion
        return None


def local_catalogue(args: argparse.Namespace | None = None) -> Catalogue | None:
    """The catalogue of the policies this command may read (for names and suggestions)."""
    from gateway.config import default_policies_dir

    policies = getattr(args, "policies", None) or default_policies_dir()
    return _catalogue(Path(policies))


def nearest(value: str, known: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest known code, or '' when none is close."""
    matches = difflib.get_close_matches(value, sorted(known), n=2, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(matches) + "?)"


def unknown_code(kind: str, value: str, known: Iterable[str]) -> str:
    """The message for a code the catalogue does not know, with the nearest valid ones."""
    return f"unknown {kind} '{value}'{nearest(value, known)}"


def _code_tables(catalogue: Catalogue) -> Mapping[str, tuple[str, Mapping[str, Any]]]:
    """Which option holds which kind of code, and the codes the catalogue knows."""
    from gateway.records.lifecycle import REMOVAL_REASONS

    return {"purpose": ("purpose", catalogue.purposes),
            "category": ("categories", catalogue.categories),
            "measure": ("measure", catalogue.measures),
            "domain": ("domains", catalogue.domains),
            "removal reason": ("reason", REMOVAL_REASONS),
            "grantee": ("grantee", catalogue.parties)}


def _bad_codes(details: str, args: argparse.Namespace | None) -> str:
    """Name the option values the local catalogue does not know, with suggestions."""
    catalogue = local_catalogue(args)
    if args is None or catalogue is None:
        return ""
    found = []
    for kind, (attr, known) in _code_tables(catalogue).items():
        if kind not in details and kind.split()[-1] not in details:
            continue
        given = getattr(args, attr, None)
        values = given if isinstance(given, list) else [given] if given else []
        found += [unknown_code(kind, v, known) for v in values if v not in known]
    return "; ".join(found)


def consent_advice(args: argparse.Namespace | None) -> str:
    """How a querier gets a consent to present."""
    subject = "ID" if args is None else "-"
    party = getattr(args, "party", None) or "PARTY"
    purpose = getattr(args, "purpose", None) or "PURPOSE"
    return (f"the person gives consent through the citizen portal (`credgate consent issue "
            f"{subject} --grantee {party} --purpose {purpose} --category CATEGORY`); pass "
            "the consent id it prints with --consent")


def explain_rpc_error(err: Any, args: argparse.Namespace | None) -> tuple[int, str]:
    """The exit code and the one line to print for a failed call."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else str(err)) or ""
    target = getattr(args, "target", None) or "the gateway"
    lowered = details.lower()
    if code == grpc.StatusCode.UNAVAILABLE and any(w in lowered for w in _TLS_WORDS):
        server = getattr(args, "server_name", None) or "its expected name"
        return EXIT_REFUSED, (
            f"the TLS handshake with {target} failed: the gateway did not accept this "
            f"party's certificate, or its own certificate is not from the CA in --keys or "
            f"not issued to {server} (check --keys, --party and --server-name)")
    if code == grpc.StatusCode.UNAVAILABLE and ("connect" in lowered or "dns" in lowered
                                                or "unreachable" in lowered):
        return EXIT_BROKEN, (f"cannot reach the gateway at {target}: it may not be running "
                             "(start it with `credgate serve`), or --target is wrong")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return EXIT_BROKEN, f"the gateway at {target} did not answer in time; try again"
    line = f"{code.name}: {details}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        bad = _bad_codes(lowered, args)
        if bad:  # names the code the gateway's message leaves out, and what was meant
            line = f"{code.name}: {bad}"
    elif code == grpc.StatusCode.PERMISSION_DENIED and "consent" in lowered:
        line += f"; {consent_advice(args)}"
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        line += (f"; the gateway does not know party "
                 f"{getattr(args, 'party', None) or '?'}'s certificate (check --party, --keys)")
    return (EXIT_REFUSED if code in _REFUSALS else EXIT_BROKEN), line
