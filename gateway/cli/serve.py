"""`credgate serve`: run the gateway."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from gateway.app import Gateway
from gateway.cli.common import EXIT_BROKEN, EXIT_OK
from gateway.cli.workers import supervise
from gateway.config import load_config
from gateway.errors import CredgateError
from gateway.server import start_server
from gateway.services.policy_admin import reload_from_files


def register(commands: argparse._SubParsersAction) -> None:
    """Add the serve command."""
    parser = commands.add_parser(
        "serve", help="run the gateway",
        description="Run the gateway over mTLS until interrupted. Settings come from "
                    "--config (TOML, [gateway] table), then CREDGATE_* environment "
                    "variables, then these options.")
    parser.add_argument("--config", type=Path, help="TOML file with a [gateway] table")
    parser.add_argument("--listen", help="host:port to listen on (default 127.0.0.1:7443)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite files live")
    parser.add_argument("--keys", type=Path, dest="keys_dir", help="keys directory")
    parser.add_argument("--policies", type=Path, dest="policies_dir",
                        help="policy directory")
    parser.add_argument("--database", help="'sqlite' or a postgresql:// conninfo")
    parser.add_argument("--trace-exporter", choices=("none", "console", "otlp"))
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="run N worker processes sharing the port and the audit log "
                             "(default 1; needs a fixed port)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The options a worker process is started with (the parent's, minus --workers)."""
    argv: list[str] = []
    for flag, value in (("--config", args.config), ("--listen", args.listen),
                        ("--data-dir", args.data_dir), ("--keys", args.keys_dir),
                        ("--policies", args.policies_dir), ("--database", args.database),
                        ("--trace-exporter", args.trace_exporter)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    try:
        config = load_config(args.config, listen=args.listen, data_dir=args.data_dir,
                             keys_dir=args.keys_dir, policies_dir=args.policies_dir,
                             database=args.database, trace_exporter=args.trace_exporter)
        if not 1 <= args.workers <= 64:
            print("credgate: --workers must be between 1 and 64", file=sys.stderr)
            return EXIT_BROKEN
        if args.workers > 1:
            if config.listen.endswith(":0"):
                print("credgate: --workers needs a fixed port (the workers share it)",
                      file=sys.stderr)
                return EXIT_BROKEN
            return supervise(_worker_argv(args), args.workers)
        gw = Gateway.open(config)
        running = start_server(gw, reuse_port=args.worker)
    except CredgateError as err:
        print(f"credgate: cannot start: {err.message}", file=sys.stderr)
        return EXIT_BROKEN
    # The handlers only set flags: a handler runs in the main thread between two of its
    # bytecodes, possibly while it holds a lock (an Event's), so it must take none. The
    # loop polls: a signal the kernel hands to another thread only marks the handler as
    # due, and the main thread runs it the next time it runs Python code.
    flags = {"terminate": False, "reload": False}

    def on_stop(*_: object) -> None:
        flags["terminate"] = True

    def on_hangup(*_: object) -> None:
        flags["reload"] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGHUP, on_hangup)
    print(f"credgate serving on port {running.port} (mTLS required); Ctrl-C stops, "
          "SIGHUP takes rotated keys and rolls out the policy files", file=sys.stderr)
    while not flags["terminate"]:  # a stop is never lost to a reload arriving with it
        time.sleep(0.2)
        if flags["terminate"] or not flags["reload"]:
            continue
        flags["reload"] = False
        try:  # keys first: a rotation (credgate keys rotate) is taken while serving
            for change in gw.reload_keys():
                print(f"credgate: {change}", file=sys.stderr)
        except CredgateError as err:
            print(f"credgate: key reload refused: {err.message}", file=sys.stderr)
        try:
            record = reload_from_files(gw)
        except CredgateError as err:
            print(f"credgate: policy reload refused: {err.message}", file=sys.stderr)
            continue
        except Exception as exc:  # a broken file must not take the gateway down
            print(f"credgate: policy reload failed: {type(exc).__name__}", file=sys.stderr)
            continue
        print(f"credgate: policy version {record.id} is {record.status}"
              + (f": {record.reason}" if record.reason else ""), file=sys.stderr)
    running.stop(grace=5.0)
    gw.close()
    return EXIT_OK
