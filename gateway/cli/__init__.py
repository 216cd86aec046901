"""The `credgate` command line: one entry point, one module per command group.

Exit codes: 0 success; 1 refused or verification failed; 2 broken input or set-up
(including output that cannot be written, such as a pipe closed by `head`); 130 Ctrl-C.
No command prints a traceback unless -v asks for one.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

import grpc

from gateway import __version__
from gateway.cli import (
    alerts,
    answers,
    audit,
    blacklist,
    checks,
    complaints,
    consent,
    console,
    db,
    decisions,
    demo,
    disclosure,
    extensions,
    keys,
    lifecycle,
    objection,
    peers,
    policy,
    records,
    report,
    serve,
    sign,
    subject,
    submit,
)
from gateway.cli.common import CliError, rpc_failure
from gateway.cli.examples import add_examples
from gateway.errors import BadSignature, CredgateError
from gateway.validate.requests import holds_personal_number

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BROKEN = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

COMMAND_GROUPS = (serve, submit, records, lifecycle, consent, subject, objection, checks, keys,
                  policy, blacklist, audit, disclosure, report, console, demo, answers,
                  complaints, extensions, db, sign, peers, alerts, decisions)


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
    add_examples(parser)
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
        code = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `credgate audit query | head`: the reader left. Later writes go nowhere.
        # stdout may not be a real file (a test's capture): then nothing is left to flush.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("credgate: output closed early (broken pipe); the rest was not written",
              file=sys.stderr)
        return EXIT_BROKEN
    except CliError as exc:
        print(f"credgate: {_safe(exc.message)}", file=sys.stderr)
        return exc.code
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    except BadSignature as exc:
        # The gateway's answer did not verify (gateway/respond/answers.py): refused, not broken.
        print(f"credgate: the gateway's answer is refused: {_safe(exc.message)}",
              file=sys.stderr)
        return EXIT_REFUSED
    except CredgateError as exc:
        # A garbled key file, a policy folder that does not load: one line, no traceback.
        print(f"credgate: {_safe(exc.message)}", file=sys.stderr)
        return EXIT_BROKEN
    except (OSError, ValueError) as exc:
        # A missing key file, a bad date, a port in use: broken input, not a traceback.
        print(f"credgate: {type(exc).__name__}: {_safe(str(exc))}", file=sys.stderr)
        return EXIT_BROKEN
    except KeyboardInterrupt:
        print("credgate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.verbose:
            raise  # -v: the traceback, for a bug report
        print(f"credgate: unexpected {type(exc).__name__}; run again with -v for the details "
              "and report it", file=sys.stderr)
        return EXIT_BROKEN


def _safe(text: str) -> str:
    """The text, unless it holds what reads as an ID number (never echoed)."""
    return "the value given is not valid" if holds_personal_number(text) else text


if __name__ == "__main__":
    sys.exit(main())
