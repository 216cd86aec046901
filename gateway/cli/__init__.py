"""The `credgate` command line: one entry point, one module per command group.

Exit codes: 0 success; 1 refused or verification failed; 2 broken input or set-up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.cli import audit, consent, demo, disclosure, keys, policy, records, report, serve
from gateway.records.validate import holds_personal_number

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BROKEN = 2

COMMAND_GROUPS = (serve, records, consent, keys, policy, audit, disclosure, report, demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="credgate",
        description="credgate: the privacy-preserving gateway for personal public-credit "
                    "records. Every call is identified by mTLS, checked against purpose-"
                    "based policy and consent, and audited before any data is released.",
    )
    parser.add_argument("--version", action="version", version=f"credgate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one credgate command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BROKEN
    try:
        return int(args.handler(args))
    except (OSError, ValueError) as exc:
        # A missing key file, a bad date, a port in use: broken input, not a traceback.
        text = str(exc)
        if holds_personal_number(text):
            text = "the value given is not valid"  # never echo what reads as an ID
        print(f"credgate: {type(exc).__name__}: {text}", file=sys.stderr)
        return EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main())
