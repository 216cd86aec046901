"""`credgate console`: the officer's local web console (regulators, security officers).

It serves on 127.0.0.1 only and calls the gateway as the officer's own party; it prints
a one-time link to open in the browser.

Exit codes: 0 stopped; 2 broken input (no such key file, port in use).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import EXIT_BROKEN, EXIT_OK, add_client_options, connect
from gateway.cli.policy import DEFAULT_POLICIES
from gateway.errors import CredgateError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the console command."""
    console = commands.add_parser(
        "console", help="a local web console for regulators and security officers",
        description="Serve a web console on 127.0.0.1 that calls the gateway as your party "
                    "(your certificate and signing key): search and verify the audit log, "
                    "supervision figures, policy versions and approvals, explain. Open the "
                    "one-time link it prints; the link works once.")
    add_client_options(console, party="regulator")
    console.add_argument("--port", type=int, default=8765,
                         help="local port (default: %(default)s; 0 picks a free one)")
    console.add_argument("--log-key", type=Path, default=None,
                         help="your trusted copy of the gateway's log public key "
                              "(default: KEYS/gateway.log.pub)")
    console.add_argument("--policies", type=Path, default=DEFAULT_POLICIES,
                         help="a policies folder for party names and the explain form's "
                              "suggestions; the gateway decides (default: %(default)s)")
    console.add_argument("--state-dir", type=Path, default=Path.home() / ".credgate-console",
                         help="where the console keeps the checkpoints it has seen "
                              "(default: %(default)s)")
    console.set_defaults(handler=run_console)


def run_console(args: argparse.Namespace) -> int:
    """Start the console and serve until interrupted."""
    from gateway.console.runner import bind_loopback, make_context, serve_forever

    try:
        sock = bind_loopback(args.port)
    except OSError:
        print(f"credgate: port {args.port} on 127.0.0.1 is in use; try --port 0",
              file=sys.stderr)
        return EXIT_BROKEN
    port = sock.getsockname()[1]
    try:
        context = make_context(
            connect(args), target=args.target,
            log_key=args.log_key or args.keys / "gateway.log.pub",
            state_dir=args.state_dir / args.party, port=port,
            policies_dir=args.policies if args.policies.is_dir() else None)
    except CredgateError as exc:
        sock.close()
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    print(f"credgate console for {args.party}, gateway {args.target}")
    print("Open this link once in your browser (it holds a one-time token):")
    print(f"    {context.gate.login_url}", flush=True)
    try:
        serve_forever(context, sock)
    except KeyboardInterrupt:
        pass
    finally:
        context.backend.close()
    return EXIT_OK
