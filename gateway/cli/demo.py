"""`credgate demo`: the main job on embedded defaults."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the demo command."""
    parser = commands.add_parser(
        "demo", help="run the end-to-end demo on embedded SQLite",
        description="Start a gateway on a temporary SQLite directory with the development "
                    "keys and policies/, have departments submit and parties query, and "
                    "print who asked what, what each got, and the audit log.")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from gateway.cli.demo_run import run_demo  # it starts a server: imported only when run

    return run_demo()
