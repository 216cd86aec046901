"""`credgate decisions declare`: a department declares its decisions (应查必查).

Departments that must check credit before cadre selection, title evaluation, awards or
personnel exams declare how many such decisions they took per month; `credgate report
supervision` then shows the decisions without a check. One count on the command line
(--month, --purpose, --decisions), or many from a CSV file with the header
``month,purpose,decisions`` (UTF-8, a BOM is fine).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from gateway.cli.common import (
    EXIT_OK,
    CliError,
    add_client_options,
    command_parser,
    connect,
    print_json,
)

CSV_HEADER = ["month", "purpose", "decisions"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add `decisions declare`."""
    group = commands.add_parser(
        "decisions", help="declare decisions that need a credit check (departments)",
        description="应查必查: declare the decisions a department took per month and purpose.")
    actions = group.add_subparsers(dest="decisions_command", metavar="ACTION")
    declare = command_parser(
        actions, "declare", help="declare decisions per month and purpose",
        description="Declare one count (--month --purpose --decisions) or a CSV file of "
                    "them (--csv, header month,purpose,decisions). A later declaration of "
                    "the same month and purpose replaces the earlier one.",
        example="credgate decisions declare --party org_department --csv decisions.csv")
    declare.add_argument("--csv", type=Path, help="a CSV file: month,purpose,decisions")
    declare.add_argument("--month", help="YYYY-MM")
    declare.add_argument("--purpose", help="e.g. cadre_selection")
    declare.add_argument("--decisions", type=int, help="how many decisions")
    add_client_options(declare)
    declare.set_defaults(handler=run_declare)


def read_counts(path: Path) -> list[tuple[str, str, int]]:
    """The counts of a CSV file; raises CliError naming the line of a bad row."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if not rows or [c.strip() for c in rows[0]] != CSV_HEADER:
        raise CliError(f"{path}: the first line must be {','.join(CSV_HEADER)}")
    counts: list[tuple[str, str, int]] = []
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != 3 or not cells[2].strip().isdigit():
            raise CliError(f"{path}:{line}: expected month,purpose,decisions (a whole number)")
        counts.append((cells[0].strip(), cells[1].strip(), int(cells[2])))
    if not counts:
        raise CliError(f"{path}: no counts")
    return counts


def run_declare(args: argparse.Namespace) -> int:
    """Send the counts; print the audit seqs of the declarations."""
    if args.csv is not None:
        counts = read_counts(args.csv)
    elif args.month and args.purpose and args.decisions is not None and args.decisions >= 0:
        counts = [(args.month, args.purpose, args.decisions)]
    else:
        raise CliError("give --csv FILE, or --month, --purpose and --decisions")
    with connect(args) as client:
        reply = client.declare_decisions(counts)
    if args.json:
        print_json({"declared": len(counts), "seqs": list(reply.seqs)})
    else:
        print(f"{len(counts)} count(s) declared (audit seqs {', '.join(map(str, reply.seqs))})")
    return EXIT_OK
