"""`credgate complaint list|answer`: the regulator's side of complaints about accesses (投诉).

People file complaints through the citizen portal (an access_complaint record naming an
entry of their access report); the regulator lists them with their due dates and the
party complained about, and answers each.
"""

from __future__ import annotations

import argparse

from gateway.cli.common import (
    EXIT_OK,
    add_client_options,
    command_parser,
    connect,
    message_dict,
    show,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the complaint command group."""
    group = commands.add_parser("complaint", help="complaints about accesses (regulators)",
                                description="List and answer people's complaints about "
                                            "an access in their access report (投诉).")
    actions = group.add_subparsers(dest="complaint_command", metavar="ACTION")
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
