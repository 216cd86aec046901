"""`credgate serve`: run the gateway."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from gateway.app import Gateway
from gateway.cli.common import EXIT_BROKEN, EXIT_OK
from gateway.cli.serve_setup import check_setup, enable_access_log, start_block
from gateway.cli.workers import WORKER_INDEX_ENV, supervise
from gateway.config import load_config
from gateway.errors import CredgateError
from gateway.metrics import MetricsEndpoint, start_metrics_endpoint
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
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="one line per call on stderr: method, party, purpose, decision, "
                             "status, duration, trace id; never personal data (default: on)")
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
    return argv + ([] if args.access_log else ["--no-access-log"])


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
            check_setup(config)
            print(start_block(config, port=int(config.listen.rsplit(":", 1)[1]),
                              policy_version=None, access_log=args.access_log,
                              workers=args.workers), file=sys.stderr, flush=True)
            return supervise(_worker_argv(args), args.workers)
        # A worker's siblings hold the port already (SO_REUSEPORT): only they may.
        check_setup(config, port_check=not args.worker)
        gw = Gateway.open(config)
    except CredgateError as err:
        _cannot_start(err)
        return EXIT_BROKEN
    try:
        running = start_server(gw, reuse_port=args.worker)
    except CredgateError as err:
        gw.close()
        _cannot_start(err)
        return EXIT_BROKEN
    try:
        endpoint = _serve_metrics(gw, worker=args.worker)
    except OSError as exc:
        running.stop(grace=0)
        gw.close()
        print(f"credgate: cannot start: the metrics port is not free ({exc.strerror})",
              file=sys.stderr)
        return EXIT_BROKEN
    began = time.monotonic()
    if args.access_log:
        enable_access_log()
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
    if args.worker:
        print(f"credgate worker serving on port {running.port}, policy version "
              f"{gw.state.version[:16]}", file=sys.stderr, flush=True)
    else:
        print(start_block(config, port=running.port, policy_version=gw.state.version,
                          access_log=args.access_log), file=sys.stderr, flush=True)
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
    if endpoint is not None:
        endpoint.stop()
    gw.close()
    print(f"credgate {'worker ' if args.worker else ''}stopped after "
          f"{_duration(time.monotonic() - began)}; port {running.port} is free",
          file=sys.stderr)
    return EXIT_OK


def _serve_metrics(gw: Gateway, *, worker: bool) -> MetricsEndpoint | None:
    """The metrics endpoint when metrics_port is set (worker i: metrics_port + i)."""
    config = gw.config
    if not config.metrics_port:
        return None
    index = int(os.environ.get(WORKER_INDEX_ENV, "0")) if worker else 0
    return start_metrics_endpoint(gw.metrics, host=config.metrics_host,
                                  port=config.metrics_port + index)


def _cannot_start(err: CredgateError) -> None:
    """Say why serve stops at start: the message, and the operator's detail when known."""
    print(f"credgate: cannot start: {err.message}", file=sys.stderr)
    if err.detail:
        # Details name files, tables and settings, never personal data (errors.py).
        print(f"  detail: {err.detail}", file=sys.stderr)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
