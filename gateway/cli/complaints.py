"""`credgate complaint file|list|answer`: complaints about accesses (投诉).

People file complaints through the citizen portal (an access_complaint record naming an
entry of their access report: `complaint file`); the regulator lists them with their
due dates and the party complained about, and answers each.
"""

from __future__ import annotations

import argparse

from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    add_client_options,
    command_parser,
    connect,
    fresh_source_id,
    id_number_argument,
    message_dict,
    show,
)
from gateway.clock import SystemClock, city_today


def register(commands: argparse._SubParsersAction) -> None:
    """Add the complaint command group."""
    group = commands.add_parser("complaint", help="complaints about accesses (投诉)",
                                description="File (the citizen portal), list and answer "
                                            "(regulators) people's complaints about an "
                                            "access in their access report (投诉).")
    actions = group.add_subparsers(dest="complaint_command", metavar="ACTION")
    filing = command_parser(
        actions, "file", help="file a person's complaint about an access (citizen portal)",
        description="Name the access by its audit entry (the seq of an access in the "
                    "person's access report) and say why; it reaches the regulator, who "
                    "answers within the catalogue's complaint_answer_days.",
        example="credgate complaint file - --seq 1234 --reason 未经本人同意查询 < id.txt")
    filing.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    filing.add_argument("--seq", required=True, type=int,
                        help="the audit entry of the access (from access-report)")
    filing.add_argument("--reason", required=True, help="why the access was misuse")
    add_client_options(filing, party="citizen_portal")
    filing.set_defaults(handler=run_file)
    listing = command_parser(
        actions, "list", help="every complaint, its due date and the party complained about",
        description="Complaints with the audit entry they name, the party that made that "
                    "access, the due date and whether it is overdue or answered.",
        example="credgate complaint list --party regulator")
    add_client_options(listing, party="regulator")
    listing.set_defaults(handler=run_list)
    answer = command_parser(
        actions, "answer", help="answer a complaint: upheld or dismissed",
        description="Record the regulator's answer; the person sees it with their records.",
        example="credgate complaint answer rec-... --outcome upheld --note 已责令整改")
    answer.add_argument("complaint_id", help="the complaint's id (from complaint list)")
    answer.add_argument("--outcome", required=True, choices=["upheld", "dismissed"])
    answer.add_argument("--note", default="", help="a note for the person")
    add_client_options(answer, party="regulator")
    answer.set_defaults(handler=run_answer)
    group.set_defaults(handler=lambda _args: group.print_help() or 2)


def run_file(args: argparse.Namespace) -> int:
    """File one complaint for the person."""
    today = city_today(SystemClock()).isoformat()  # the day the person files it
    with connect(args) as client:
        reply = client.submit_records([{
            "subject_id": id_number_argument(args.subject_id), "category": "access_complaint",
            "severity": "not_applicable", "event_date": today,
            "source_record_id": fresh_source_id("complaint"),
            "fields": {"audit_seq": str(args.seq), "reason": args.reason}}])
    [filed] = reply.results
    show(args, message_dict(reply), ["complaint", "audit entry"],
         [[filed.record_id, f"#{reply.audit_seq}"]])
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """Print the complaints."""
    with connect(args) as client:
        reply = client.list_complaints()
    show(args, [message_dict(c) for c in reply.complaints],
         ["complaint", "filed", "due", "audit entry", "party", "status"],
         [[c.complaint_id, c.filed_on, c.due_on, f"#{c.audit_seq}", c.party,
           c.outcome or ("OVERDUE" if c.overdue else "open")] for c in reply.complaints],
         empty="no complaints")
    return EXIT_OK


def run_answer(args: argparse.Namespace) -> int:
    """Answer one complaint."""
    with connect(args) as client:
        reply = client.answer_complaint(args.complaint_id, args.outcome, args.note)
    show(args, message_dict(reply), ["answer record", "audit entry"],
         [[reply.answer_record_id, f"#{reply.audit_seq}"]])
    return EXIT_OK
