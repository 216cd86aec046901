"""`credgate audit query|export`: regulators search and export the log through the gateway.

Query output is a table, JSON (numbers as numbers, null where nothing was recorded) or
CSV with a UTF-8 byte order mark (spreadsheet programs then read the Chinese), to a
file or to standard output (-). Pages continue with --page-token.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    CliError,
    add_client_options,
    command_parser,
    connect,
    id_number_argument,
    message_dict,
    print_table,
)

STDOUT = "-"
#: Entry fields that are empty when nothing was recorded: null in JSON and CSV.
_OPTIONAL = ("purpose", "subject_index", "reason", "consent_id", "policy_rule",
             "policy_version", "trace_id", "request_signature")
CSV_COLUMNS = ("seq", "time", "requester", "action", "purpose", "decision", "reason",
               "consent_id", "categories", "fields_released", "subject_index",
               "policy_rule", "policy_version", "trace_id")


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add query and export to the `audit` command group."""
    query = command_parser(
        actions, "query", help="search the audit log through the gateway (regulator)",
        description="List audit entries by time range, requester, purpose, decision, action "
                    "or subject (give the ID number; the gateway looks up its blind index). "
                    "A table for people; --json or --csv for programs and spreadsheets.",
        example="credgate audit query --requester credit_agency --decision deny\n"
                "credgate audit query --all --csv refusals.csv --decision deny\n"
                "credgate audit query --limit 50 --page-token TOKEN --json --out -")
    query.add_argument("--from", dest="time_from", default="", help="RFC 3339 start")
    query.add_argument("--to", dest="time_to", default="", help="RFC 3339 end")
    query.add_argument("--requester", default="", help="party id")
    query.add_argument("--purpose", default="", help="purpose code")
    query.add_argument("--decision", default="", choices=("", "allow", "deny"))
    query.add_argument("--action", default="", help="e.g. query.subject")
    query.add_argument("--subject", default="",
                       help="the person's 18-digit ID number" + ID_HELP)
    query.add_argument("--limit", type=int, default=100, help="entries per page (max 1000)")
    query.add_argument("--all", action="store_true", help="follow every page")
    query.add_argument("--page-token", default="",
                       help="continue from the page token a previous query printed")
    query.add_argument("--csv", dest="csv_out", metavar="FILE",
                       help="write CSV (UTF-8 with a byte order mark) to FILE, or - for "
                            "standard output")
    query.add_argument("--out", default=STDOUT, metavar="FILE",
                       help="where --json or the table goes (default: -, standard output)")
    query.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_client_options(query, party="regulator")
    query.set_defaults(handler=run_query)

    export = command_parser(
        actions, "export", help="export a range of the log with its signed checkpoint "
                                "(regulator)",
        description="Write the log as the JSON Lines export that `credgate audit verify` "
                    "checks, plus OUT.checkpoint with the gateway's signed checkpoint. "
                    "With - the export goes to standard output and the checkpoint to "
                    "--checkpoint-out (if given).",
        example="credgate audit export log.jsonl\n"
                "credgate audit export - --checkpoint-out log.checkpoint | gzip > log.jsonl.gz")
    export.add_argument("out", help="export file to write, or - for standard output")
    export.add_argument("--start", type=int, default=1, help="first seq (default 1)")
    export.add_argument("--end", type=int, default=0, help="last seq (default: all)")
    export.add_argument("--checkpoint-out", type=Path,
                        help="where the checkpoint goes (default: OUT.checkpoint)")
    export.add_argument("--force", action="store_true",
                        help="replace an existing export (only once the new one is complete)")
    add_client_options(export, party="regulator")
    export.set_defaults(handler=run_export)


def entry_json(entry: pb.AuditEntry) -> dict[str, Any]:
    """An entry as plain data: seq a number, null where nothing was recorded."""
    data = message_dict(entry)
    for key in _OPTIONAL:
        if data.get(key) == "":
            data[key] = None
    return data


@contextlib.contextmanager
def _output(name: str, *, force: bool, bom: bool = False) -> Iterator[IO[str]]:
    """Standard output for -, else a new file (an existing one only with --force)."""
    if name == STDOUT:
        if bom:
            sys.stdout.write("\ufeff")
        yield sys.stdout
        return
    path = Path(name)
    if path.exists() and not force:
        raise CliError(f"{path} exists; pass --force to overwrite it")
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        yield fh


def _fetch(args: argparse.Namespace) -> tuple[list[pb.AuditEntry], str]:
    request = pb.ListAuditEntriesRequest(
        time_from=args.time_from, time_to=args.time_to, requester=args.requester,
        purpose=args.purpose, decision=args.decision, action=args.action,
        subject_id=id_number_argument(args.subject) if args.subject else "",
        page_size=args.limit, page_token=args.page_token)
    entries: list[pb.AuditEntry] = []
    with connect(args) as client:
        while True:
            reply = client.audit.ListAuditEntries(request, timeout=60)
            entries.extend(reply.entries)
            if not (args.all and reply.next_page_token):
                return entries, reply.next_page_token
            request.page_token = reply.next_page_token


def run_query(args: argparse.Namespace) -> int:
    """Search the log and write a table, JSON or CSV."""
    entries, next_token = _fetch(args)
    if args.csv_out:
        with _output(args.csv_out, force=args.force, bom=True) as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for e in entries:
                data = entry_json(e)
                writer.writerow(["" if data.get(c) is None else
                                 ";".join(data[c]) if isinstance(data[c], list) else data[c]
                                 for c in CSV_COLUMNS])
    elif args.json:
        with _output(args.out, force=args.force) as fh:
            fh.write(json.dumps([entry_json(e) for e in entries], ensure_ascii=False,
                                indent=2, sort_keys=True) + "\n")
    else:
        with _output(args.out, force=args.force) as fh, contextlib.redirect_stdout(fh):
            print_table(["seq", "time", "requester", "action", "purpose", "decision",
                         "reason"],
                        [[e.seq, e.time, e.requester, e.action, e.purpose or "-",
                          e.decision, e.reason or "-"] for e in entries])
    if next_token and not args.all:
        # On stderr: standard output stays the data a program asked for.
        print(f"more entries: --all, or continue with --page-token {next_token}",
              file=sys.stderr)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    """Stream an export to a file (or stdout) and its checkpoint beside it."""
    to_stdout = args.out == STDOUT
    out = None if to_stdout else Path(args.out)
    side = args.checkpoint_out or (None if out is None else Path(f"{out}.checkpoint"))
    if not args.force and any(p is not None and p.exists() for p in (out, side)):
        raise CliError(f"{out if out is not None and out.exists() else side} exists; pass "
                       "--force to replace it")
    # Written beside the target and renamed only once complete: a refused or broken
    # transfer never replaces (or truncates) an export a regulator already holds.
    partial = None if out is None else out.with_name(f".{out.name}.partial")
    checkpoint, written = "", 0
    try:
        with connect(args) as client, (contextlib.nullcontext(sys.stdout.buffer)
                                       if partial is None else partial.open("wb")) as fh:
            for chunk in client.audit.ExportAudit(
                    pb.ExportAuditRequest(start_seq=args.start, end_seq=args.end),
                    timeout=3600):
                if chunk.jsonl:
                    fh.write(chunk.jsonl)
                    written += len(chunk.jsonl)
                if chunk.checkpoint:
                    checkpoint = chunk.checkpoint
            fh.flush()
        if side is not None:
            side_partial = side.with_name(f".{side.name}.partial")
            side_partial.write_text(checkpoint, encoding="utf-8")
            if partial is not None and out is not None:
                partial.replace(out)
            side_partial.replace(side)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    note = f"wrote {written} bytes to {args.out if out else 'standard output'}" + (
        f" and its checkpoint to {side}" if side else " (checkpoint not kept: "
        "--checkpoint-out FILE keeps it)")
    print(note, file=sys.stderr if to_stdout else sys.stdout)
    return EXIT_OK
