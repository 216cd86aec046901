"""`credgate objection file|list|answer`: objections (异议) to a record.

The person files through the citizen portal (with their own self_query consent); the
providing department answers within the catalogue's answer period; regulators list the
overdue ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    show,
)

OUTCOMES = ("uphold", "correct", "withdraw")
HEADERS = ["objection", "record", "category", "provider", "filed", "due", "status",
           "outcome", "overdue"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add the objection command group."""
    group = commands.add_parser(
        "objection", help="file, list and answer objections to records (异议)",
        description="A person objects to one of their records through the citizen portal; "
                    "the record shows as disputed to queriers until the providing "
                    "department answers: uphold, correct (a new version) or withdraw.")
    actions = group.add_subparsers(dest="objection_command", metavar="ACTION")

    file = command_parser(
        actions, "file", help="object to one of the person's records (citizen portal)",
        description="File an objection for the person, with their self_query consent for "
                    "the portal. The record id is the one `credgate query` shows.",
        example="credgate objection file - --consent C-123 --record R-456 \\\n"
                "    --reason \"the debt was paid in June\" < id.txt")
    file.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    file.add_argument("--consent", required=True, help="the person's self_query consent id")
    file.add_argument("--record", required=True, help="the record id objected to")
    file.add_argument("--reason", required=True, help="the person's reason (kept encrypted)")
    add_client_options(file, party="citizen_portal")
    file.set_defaults(handler=run_file)

    listing = command_parser(
        actions, "list", help="objections the party may see",
        description="Departments see objections to their own records, regulators every "
                    "objection (without the texts), the portal the person's own (give the "
                    "ID number and consent).",
        example="credgate objection list --party court --status open\n"
                "credgate objection list --party regulator --overdue --json")
    listing.add_argument("--status", default="", choices=("", "open", "answered"))
    listing.add_argument("--overdue", action="store_true", help="only open past their due date")
    listing.add_argument("--subject", default="", help="portal only: the person's ID number"
                         + ID_HELP)
    listing.add_argument("--consent", default="", help="portal only: self_query consent id")
    listing.add_argument("--limit", type=int, default=0, help="at most this many")
    add_client_options(listing)
    listing.set_defaults(handler=run_list)

    answer = command_parser(
        actions, "answer", help="answer an objection (the providing department)",
        description="Uphold the record, correct it (give the corrected record as a JSON "
                    "file: same subject and category, a new source_record_id) or withdraw "
                    "it.",
        example="credgate objection answer OBJ-1 --outcome withdraw --note \"paid\" "
                "--party court\n"
                "credgate objection answer OBJ-1 --outcome correct --correction fixed.json "
                "--party court")
    answer.add_argument("objection_id")
    answer.add_argument("--outcome", required=True, choices=OUTCOMES)
    answer.add_argument("--note", default="", help="the explanation to the person")
    answer.add_argument("--correction", type=Path,
                        help="JSON file with the corrected record (for --outcome correct)")
    add_client_options(answer)
    answer.set_defaults(handler=run_answer)


def row(o: pb.Objection) -> list[Any]:
    """One objection as a table row."""
    return [o.objection_id, o.record_id, o.category, o.provider, o.filed_at, o.due_date,
            o.status, o.outcome or "-", "OVERDUE" if o.overdue else ""]


def _reply(args: argparse.Namespace, reply: pb.ObjectionReply) -> int:
    o = reply.objection
    if args.json:
        show(args, message_dict(reply), [], [])
    else:
        print(f"objection {o.objection_id} to record {o.record_id} ({o.category}, "
              f"{o.provider}): {o.status}" + (f", {o.outcome}" if o.outcome else "")
              + (f"; answer due by {o.due_date}" if o.status == "open" else "")
              + f"; audit entry #{reply.audit_seq}")
    return EXIT_OK


def run_file(args: argparse.Namespace) -> int:
    """File an objection."""
    with connect(args) as client:
        reply = client.file_objection(id_number_argument(args.subject_id), args.consent,
                                      args.record, args.reason)
    return _reply(args, reply)


def run_list(args: argparse.Namespace) -> int:
    """List objections."""
    with connect(args) as client:
        reply = client.list_objections(
            status=args.status, overdue_only=args.overdue, consent_id=args.consent,
            subject_id=id_number_argument(args.subject) if args.subject else "",
            limit=args.limit)
    show(args, [message_dict(o) for o in reply.objections], HEADERS,
         [row(o) for o in reply.objections], empty="no objections")
    return EXIT_OK


def _correction(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the correction {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: the correction must be one record object")
    missing = [k for k in ("subject_id", "category", "event_date", "source_record_id")
               if not data.get(k)]
    if missing:
        raise CliError(f"{path}: the correction lacks {', '.join(missing)}")
    return data


def run_answer(args: argparse.Namespace) -> int:
    """Answer an objection."""
    if (args.outcome == "correct") != (args.correction is not None):
        raise CliError("--correction FILE goes with --outcome correct, and only with it")
    correction = _correction(args.correction) if args.correction else None
    with connect(args) as client:
        reply = client.answer_objection(args.objection_id, args.outcome, note=args.note,
                                        correction=correction)
    return _reply(args, reply)
