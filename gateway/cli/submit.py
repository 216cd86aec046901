"""`credgate submit`: a department's records from a JSON or CSV file of any size.

The whole file is checked first and every bad row is reported by its line; only a clean
file is sent, in batches, with a progress bar. Submission is idempotent per source
record id, so a run cut short is resumed by running the same command again.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from tqdm import tqdm

from gateway.cli.advice import local_catalogue
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    CliError,
    add_client_options,
    command_parser,
    connect,
    print_json,
    rpc_failure,
)
from gateway.cli.submit_input import (
    REQUIRED,
    Problem,
    Row,
    check_row,
    check_suffix,
    detect_encoding,
    read_rows,
)
from gateway.clock import SystemClock, city_today

#: Problems printed before the rest are only counted (the count is always given).
SHOWN_PROBLEMS = 1000
_RECORD_INDEX = re.compile(r"\brecord (\d+)\b")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the submit command."""
    submit = command_parser(
        commands, "submit", help="submit records from a JSON or CSV file (departments)",
        description="Submit records as the given department. JSON: a list of objects (or "
                    "{\"records\": [...]}) with " + ", ".join(REQUIRED) + ", optionally "
                    "domain and occupation, and a fields object. CSV: those columns plus one "
                    "column per field, named field.NAME. UTF-8 or GB 18030/GBK (as Chinese "
                    "spreadsheets save it). The whole file is checked against the catalogue "
                    "first and every bad row is reported by line and column; nothing is "
                    "sent until the file is clean. Then it goes in batches; a run cut short "
                    "resumes by running the same command again (records already stored are "
                    "recognised by their source_record_id).",
        example="credgate submit judgments.csv --party court\n"
                "credgate submit penalties.json --party market_regulator --batch-size 200")
    submit.add_argument("file", type=Path, help="records file (.json or .csv)")
    submit.add_argument("--batch-size", type=int, default=0,
                        help="records per call (default: the catalogue's max_batch)")
    submit.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: on a terminal)")
    submit.add_argument("--policies", type=Path, default=None,
                        help="policies to check the file against before sending (default: "
                             "the development policies; the gateway checks again)")
    add_client_options(submit)
    submit.set_defaults(handler=run_submit)


def check_file(args: argparse.Namespace, encoding: str) -> tuple[int, list[Problem]]:
    """Count the rows and find every problem, before anything is sent."""
    catalogue = local_catalogue(args)
    party = catalogue.parties.get(args.party) if catalogue else None
    today = city_today(SystemClock())
    count, problems = 0, []
    for item in read_rows(args.file, encoding):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        count += 1
        problems += check_row(item, catalogue=catalogue, party=party, today=today)
    return count, problems


def _batches(args: argparse.Namespace, encoding: str, size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for item in read_rows(args.file, encoding):
        if isinstance(item, Row):
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def run_submit(args: argparse.Namespace) -> int:
    """Check the file, then submit it in batches."""
    check_suffix(args.file)
    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    encoding = detect_encoding(args.file)
    if encoding == "gb18030":
        print(f"credgate: {args.file.name} is GB 18030/GBK text; read and sent as UTF-8",
              file=sys.stderr)
    total, problems = check_file(args, encoding)
    if problems:
        for problem in problems[:SHOWN_PROBLEMS]:
            print(f"credgate: {args.file.name} {problem}", file=sys.stderr)
        more = len(problems) - SHOWN_PROBLEMS
        print(f"credgate: {len(problems)} problem(s)" + (f" ({more} more not shown)"
                                                          if more > 0 else "")
              + "; nothing was sent", file=sys.stderr)
        return EXIT_BROKEN
    if total == 0:
        raise CliError(f"{args.file.name} holds no records")
    catalogue = local_catalogue(args)
    size = args.batch_size or (catalogue.max_batch if catalogue else 500)
    if size < 1:
        raise CliError("--batch-size must be at least 1")
    created = present = sent = 0
    last_seq = 0
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    with connect(args) as client, tqdm(total=total, unit="rec", disable=not show,
                                       file=sys.stderr, desc="submitting") as bar:
        for batch in _batches(args, encoding, size):
            try:
                reply = client.submit_records([row.record for row in batch])
            except grpc.RpcError as err:
                bar.close()
                _report_batch_failure(args, err, batch, sent)
                return rpc_failure(err, args)
            created += sum(1 for r in reply.results if r.created)
            present += sum(1 for r in reply.results if not r.created)
            sent += len(batch)
            last_seq = reply.audit_seq
            bar.update(len(batch))
    if args.json:
        print_json({"records": total, "created": created, "already_present": present,
                    "batches": -(-total // size), "last_audit_seq": last_seq})
    else:
        print(f"stored {created} new record(s), {present} already present, in "
              f"{-(-total // size)} batch(es); last audit entry #{last_seq}")
    return EXIT_OK


def _report_batch_failure(args: argparse.Namespace, err: grpc.RpcError, batch: list[Row],
                          sent: int) -> None:
    """Say which line the gateway refused and how to resume."""
    details = err.details() if hasattr(err, "details") else ""
    found = _RECORD_INDEX.search(details or "")
    if found and int(found.group(1)) < len(batch):
        print(f"credgate: the gateway refused {args.file.name} line "
              f"{batch[int(found.group(1))].line}", file=sys.stderr)
    if sent:
        print(f"credgate: the first {sent} record(s) are stored; after fixing the file, run "
              "the same command again to resume", file=sys.stderr)
