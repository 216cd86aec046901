"""`credgate repair apply|decide|list` and `credgate record remove|revise`: a record's
later life.

Credit repair (信用修复): the person applies through the portal (citing their repair
training, volunteer service and donations by id), the deciding department approves or
rejects. Removal: the provider takes down a record shown until removed. Revision: the
provider corrects or withdraws its own record, with a reason code.
"""

from __future__ import annotations

import argparse
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
from gateway.cli.submit_input import (
    Problem,
    Row,
    check_suffix,
    detect_encoding,
    read_rows,
)
from gateway.records.lifecycle import REMOVAL_REASONS

HEADERS = ["repair", "record", "category", "provider", "approver", "applied", "status",
           "decided"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add the repair and record command groups."""
    repair = commands.add_parser(
        "repair", help="apply for and decide credit repair (信用修复)",
        description="After a record's minimum display period the person may apply for "
                    "repair through the portal; the provider (or the party the catalogue "
                    "names) approves or rejects. From approval the record is out of use.")
    actions = repair.add_subparsers(dest="repair_command", metavar="ACTION")
    apply = command_parser(
        actions, "apply", help="apply for repair of one of the person's records (portal)",
        description="Apply for the person, with their self_query consent for the portal.",
        example="credgate repair apply - --consent C-123 --record R-456 \\\n"
                "    --statement \"fine paid, training done\" --evidence R-789 < id.txt")
    apply.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    apply.add_argument("--consent", required=True, help="the person's self_query consent id")
    apply.add_argument("--record", required=True, help="the record id to repair")
    apply.add_argument("--statement", required=True,
                       help="what the person did to correct the conduct (kept encrypted)")
    apply.add_argument("--evidence", action="append", default=[], metavar="RECORD_ID",
                       help="a record of the person's completed repair training, volunteer "
                            "service or donation, by id (repeatable)")
    add_client_options(apply, party="citizen_portal")
    apply.set_defaults(handler=run_apply)

    decide = command_parser(
        actions, "decide", help="approve or reject a repair application (deciding party)",
        description="Approve or reject; the reason goes to the person.",
        example="credgate repair decide REP-1 --approve --reason \"obligation performed\" "
                "--party market_regulator")
    decide.add_argument("repair_id")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true", dest="approve")
    verdict.add_argument("--reject", action="store_false", dest="approve")
    decide.add_argument("--reason", required=True, help="the reason told to the person")
    add_client_options(decide)
    decide.set_defaults(handler=run_decide)

    listing = command_parser(
        actions, "list", help="repair applications the party may see",
        description="The deciding party sees the applications it decides; the portal the "
                    "person's own (give the ID number and consent).",
        example="credgate repair list --party market_regulator --status pending")
    listing.add_argument("--status", default="", choices=("", "pending", "approved",
                                                          "rejected"))
    listing.add_argument("--subject", default="", help="portal only: the person's ID number"
                         + ID_HELP)
    listing.add_argument("--consent", default="", help="portal only: self_query consent id")
    listing.add_argument("--limit", type=int, default=0)
    add_client_options(listing)
    listing.set_defaults(handler=run_list)

    record = commands.add_parser("record",
                                 help="remove, correct or withdraw a record (its provider)")
    record_actions = record.add_subparsers(dest="record_command", metavar="ACTION")
    remove = command_parser(
        record_actions, "remove", help="remove a record shown until its removal",
        description="The provider removes a record (a court lifting a listing), by the "
                    "gateway's record id or its own source record id. Reason codes: "
                    + ", ".join(f"{k} ({v})" for k, v in REMOVAL_REASONS.items()) + ".",
        example="credgate record remove --source-record-id \"(2026)浙01执1234号\" \\\n"
                "    --reason obligation_performed --party court")
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--record-id", default="", help="the gateway's record id")
    which.add_argument("--source-record-id", default="", help="the provider's own id")
    remove.add_argument("--reason", required=True, help="a reason code (see above)")
    add_client_options(remove)
    remove.set_defaults(handler=run_remove)

    revise = command_parser(
        record_actions, "revise", help="correct or withdraw one of your own records",
        description="The provider keeps its records current (动态更新): with --correction "
                    "(a JSON or CSV file holding the one corrected record, as for submit) a "
                    "new version supersedes the record, without it the record is withdrawn. "
                    "The old version stays as evidence. Reason codes are the catalogue's "
                    "[revision_reasons]: entered_in_error, revoked_on_review, "
                    "changed_by_court, decision_amended.",
        example="credgate record revise --source-record-id 攀市监罚〔2026〕12号 \\\n"
                "    --reason changed_by_court --correction corrected.json "
                "--party market_regulator")
    which = revise.add_mutually_exclusive_group(required=True)
    which.add_argument("--record-id", default="", help="the gateway's record id")
    which.add_argument("--source-record-id", default="", help="the provider's own id")
    revise.add_argument("--reason", required=True, help="a reason code (see above)")
    revise.add_argument("--correction", type=Path, default=None, metavar="FILE",
                        help="the corrected record; without it the record is withdrawn")
    add_client_options(revise)
    revise.set_defaults(handler=run_revise)


def row(r: pb.RepairApplication) -> list[Any]:
    """One repair application as a table row."""
    return [r.repair_id, r.record_id, r.category, r.provider, r.approver, r.applied_at,
            r.status, r.decided_at or "-"]


def _reply(args: argparse.Namespace, reply: pb.RepairReply) -> int:
    r = reply.repair
    if args.json:
        show(args, message_dict(reply), [], [])
    else:
        print(f"repair {r.repair_id} of record {r.record_id} ({r.category}): {r.status}"
              + (f", decided by {r.approver}" if r.status != "pending"
                 else f"; {r.approver} decides") + f"; audit entry #{reply.audit_seq}")
    return EXIT_OK


def run_apply(args: argparse.Namespace) -> int:
    """Apply for repair."""
    with connect(args) as client:
        reply = client.apply_repair(id_number_argument(args.subject_id), args.consent,
                                    args.record, args.statement, evidence=args.evidence)
    return _reply(args, reply)


def run_decide(args: argparse.Namespace) -> int:
    """Decide a repair application."""
    with connect(args) as client:
        reply = client.decide_repair(args.repair_id, approve=args.approve, reason=args.reason)
    return _reply(args, reply)


def run_list(args: argparse.Namespace) -> int:
    """List repair applications."""
    with connect(args) as client:
        reply = client.list_repairs(
            status=args.status, consent_id=args.consent, limit=args.limit,
            subject_id=id_number_argument(args.subject) if args.subject else "")
    show(args, [message_dict(r) for r in reply.repairs], HEADERS,
         [row(r) for r in reply.repairs], empty="no repair applications")
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    """Remove a record."""
    if args.reason not in REMOVAL_REASONS:
        from gateway.cli.advice import unknown_code

        raise CliError(unknown_code("removal reason", args.reason, REMOVAL_REASONS)
                       + "; valid: " + ", ".join(REMOVAL_REASONS))
    with connect(args) as client:
        reply = client.remove_record(reason=args.reason, record_id=args.record_id,
                                     source_record_id=args.source_record_id)
    if args.json:
        show(args, message_dict(reply), [], [])
    else:
        print(f"record {reply.record_id} removed at {reply.removed_at}; "
              f"audit entry #{reply.audit_seq}")
    return EXIT_OK


def _correction(path: Path) -> dict[str, Any]:
    """The one record of a correction file (JSON or CSV, read as `submit` reads)."""
    check_suffix(path)
    rows = list(read_rows(path, detect_encoding(path)))
    problems = [r for r in rows if isinstance(r, Problem)]
    if problems:
        raise CliError(f"{path.name}: {problems[0]}")
    if len(rows) != 1:
        raise CliError(f"{path.name} must hold exactly one record, the corrected one")
    row = rows[0]
    assert isinstance(row, Row)
    return row.record


def run_revise(args: argparse.Namespace) -> int:
    """Correct or withdraw one of the caller's records."""
    correction = _correction(args.correction) if args.correction else None
    with connect(args) as client:
        reply = client.revise_record(reason=args.reason, record_id=args.record_id,
                                     source_record_id=args.source_record_id,
                                     correction=correction)
    if args.json:
        show(args, message_dict(reply), [], [])
    elif reply.new_record_id:
        print(f"record {reply.record_id} corrected: {reply.new_record_id} supersedes it "
              f"({args.reason}); audit entry #{reply.audit_seq}")
    else:
        print(f"record {reply.record_id} withdrawn ({args.reason}); "
              f"audit entry #{reply.audit_seq}")
    return EXIT_OK
