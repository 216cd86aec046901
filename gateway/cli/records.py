"""`credgate submit` and `credgate query`: a party's calls from the command line."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from gateway.api import pb
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    ID_HELP,
    add_client_options,
    connect,
    id_number_argument,
    message_dict,
    print_json,
    print_table,
    rpc_failure,
)
from gateway.client import record_message

_CSV_KEYS = ("subject_id", "category", "severity", "event_date", "source_record_id",
             "domain", "occupation")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the submit and query commands."""
    submit = commands.add_parser(
        "submit", help="submit records from a JSON or CSV file",
        description="Submit a batch of records as the given department. JSON: a list of "
                    "objects (or {\"records\": [...]}) with subject_id, category, severity, "
                    "event_date, source_record_id and a fields object. CSV: those columns "
                    "plus one column per field, named field.NAME.")
    submit.add_argument("file", type=Path, help="records file (.json or .csv)")
    add_client_options(submit)
    submit.set_defaults(handler=run_submit)

    query = commands.add_parser(
        "query", help="look a person up for a purpose",
        description="Query one person's records for a stated purpose. The gateway releases "
                    "only what policy (and, where required, the person's consent) allows.")
    query.add_argument("subject_id", help="18-digit citizen ID number" + ID_HELP)
    query.add_argument("--purpose", required=True, help="purpose code, e.g. cadre_selection")
    query.add_argument("--category", action="append", default=[], dest="categories",
                       help="limit to a category (repeatable)")
    query.add_argument("--consent", default="", help="consent id, where the purpose needs one")
    add_client_options(query)
    query.set_defaults(handler=run_query)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records from a JSON or CSV file; raises ValueError when the file is malformed."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected a list of record objects")
    return records


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """CSV records, strictly: every column known and once, every row as long as the header.

    Quoted values may hold line breaks; an unclosed quote or a stray column is an error,
    never a silently merged or dropped value.
    """
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, strict=True))
    if not rows:
        return []
    header, *body = rows
    unknown = [c for c in header if c not in _CSV_KEYS and not c.startswith("field.")]
    if unknown or len(set(header)) != len(header) or "field." in header:
        raise ValueError("the header may hold only " + ", ".join(_CSV_KEYS)
                         + " and field.NAME columns, each once")
    out = []
    for number, row in enumerate(body, start=2):
        if not any(row):
            continue  # a blank line
        if len(row) != len(header):
            raise ValueError(f"line {number} has {len(row)} values for {len(header)} columns")
        values = dict(zip(header, row, strict=True))
        record: dict[str, Any] = {k: values.get(k, "") for k in _CSV_KEYS}
        record["fields"] = {k[len("field."):]: v for k, v in values.items()
                            if k.startswith("field.") and v}
        out.append(record)
    return out


def run_submit(args: argparse.Namespace) -> int:
    """Submit the file's records."""
    try:
        records = read_records(args.file)
        for i, r in enumerate(records):
            missing = [k for k in ("subject_id", "category", "event_date", "source_record_id")
                       if not r.get(k)]
            if missing:
                raise ValueError(f"record {i} lacks {', '.join(missing)}")
            try:
                record_message(r)
            except ValueError as exc:
                raise ValueError(f"record {i}: {exc}") from None
    except (OSError, ValueError, csv.Error) as exc:
        print(f"credgate: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        with connect(args) as client:
            reply = client.submit_records(records)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    if args.json:
        print_json(MessageToDict(reply, preserving_proto_field_name=True))
    else:
        created = sum(1 for r in reply.results if r.created)
        print(f"stored {created} new record(s), {len(reply.results) - created} already "
              f"present; audit entry #{reply.audit_seq}")
    return EXIT_OK


def run_query(args: argparse.Namespace) -> int:
    """Query a person and print what was released."""
    with connect(args) as client:
        reply = client.query_subject(id_number_argument(args.subject_id), args.purpose,
                                     categories=args.categories, consent_id=args.consent)
    if args.json:
        print_json(message_dict(reply))
        return EXIT_OK
    print_answer(reply, requested=args.categories)
    return EXIT_OK


def print_answer(reply: pb.QuerySubjectResponse, *, requested: Sequence[str] = ()) -> None:
    """A query's answer for people: the records, their fields, what policy withheld."""
    print(f"query {reply.query_id} for {reply.purpose}: {len(reply.records)} record(s); "
          f"audit entry #{reply.audit_seq}")
    if reply.records:
        print_table(["record", "category", "provider", "date", "shown until", "mark"],
                    [[r.record_id, r.category, r.provider, r.event_date,
                      r.display_end or "removed", "DISPUTED" if r.disputed else ""]
                     for r in reply.records])
        rows = []
        for rec in reply.records:
            for f in rec.fields:
                rows.append([rec.record_id, f.name, f.value,
                             "masked" if f.disclosure == pb.MASKED else "clear"])
            for name in rec.withheld_fields:
                rows.append([rec.record_id, name, "", "withheld"])
        print()
        print_table(["record", "field", "value", "release"], rows)
        if any(r.disputed for r in reply.records):
            print("DISPUTED: the person has objected and the provider has not answered yet")
    withheld = sorted(set(requested) - set(reply.released_categories))
    if withheld:
        print("withheld by policy or consent: " + ", ".join(withheld))
