"""Helpers shared by the command modules: client set-up, errors, tables."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from gateway.client import DEFAULT_SERVER_NAME, CredgateClient, PartyCredentials
from gateway.config import REPO_ROOT

EXIT_OK, EXIT_REFUSED, EXIT_BROKEN = 0, 1, 2
_REFUSALS = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


def add_client_options(parser: argparse.ArgumentParser, *, party: str | None = None) -> None:
    """Options every client command takes: gateway address, party and its keys.

    ``party`` is the command's usual party (the portal for consents, the regulator for
    the log); without one, --party must be given.
    """
    parser.add_argument("--target", default="127.0.0.1:7443",
                        help="gateway address host:port (default: %(default)s)")
    parser.add_argument("--party", required=party is None, default=party,
                        help="the party to act as; its certificate is keys/parties/PARTY.crt"
                             + (" (default: %(default)s)" if party else ""))
    parser.add_argument("--server-name", default=None,
                        help="the name the gateway's certificate must carry (default: the "
                             "target's host, or localhost for a loopback address)")
    parser.add_argument("--keys", type=Path, default=REPO_ROOT / "keys_example",
                        help="keys directory written by `credgate keys init` "
                             "(default: the development keys)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def connect(args: argparse.Namespace) -> CredgateClient:
    """A client for the party and gateway the options name."""
    return CredgateClient(args.target, PartyCredentials.from_keys_dir(args.keys, args.party),
                          server_name=args.server_name or server_name_of(args.target))


def server_name_of(target: str) -> str:
    """The certificate name to expect for a target: its host, localhost for loopback."""
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    if host in ("", "localhost", "::1") or host.startswith("127."):
        return DEFAULT_SERVER_NAME  # the development certificates name the server so
    return host


def rpc_failure(err: grpc.RpcError) -> int:
    """Print a gRPC failure and return the exit code it deserves."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    print(f"credgate: {code.name}: {err.details() if hasattr(err, 'details') else err}",
          file=sys.stderr)
    return EXIT_REFUSED if code in _REFUSALS else EXIT_BROKEN


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as an aligned text table (CJK characters count double)."""
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    cells = [[str(c) for c in row] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(values, widths, strict=True))

    print(line(headers).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row).rstrip())


def print_json(value: Any) -> None:
    """Print a value as indented JSON (UTF-8, not escaped)."""
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


#: What to write for an ID number read from standard input rather than the command line.
FROM_STDIN = "-"
ID_HELP = (" (or - to read it from standard input, so that it does not show in the "
           "process list)")


def id_number_argument(value: str) -> str:
    """An ID number given on the command line, or read from standard input for "-".

    Arguments are visible to other local users (ps, /proc): personal data belongs on
    standard input.
    """
    if value != FROM_STDIN:
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise ValueError("no ID number on standard input")
    return line
