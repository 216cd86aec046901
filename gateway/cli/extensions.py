"""`credgate extension list|answer`: a department's side of extension applications (申请延期).

People apply through the citizen portal (an extension_application record citing the
record whose obligation they ask more time for); the department that provided that
record lists the applications and grants (until a date) or refuses each, once.
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
    """Add the extension command group."""
    group = commands.add_parser(
        "extension", help="extension applications about a department's records (申请延期)",
        description="List and answer people's applications for more time to meet an "
                    "obligation one of your records states.")
    actions = group.add_subparsers(dest="extension_command", metavar="ACTION")
    listing = command_parser(
        actions, "list", help="applications about your records, with the date asked for",
        description="Each application with your own id for the record, the date the person "
                    "asks for, their reasons and your answer if given.",
        example="credgate extension list --status open --party market_regulator")
    listing.add_argument("--status", default="", choices=("", "open", "answered"))
    add_client_options(listing)
    listing.set_defaults(handler=run_list)
    answer = command_parser(
        actions, "answer", help="grant an application until a date, or refuse it",
        description="Answer once; the person and whoever may see the record see the answer "
                    "with it.",
        example="credgate extension answer rec-... --grant --until 2027-02-28 \\\n"
                "    --note 准予延期 --party market_regulator")
    answer.add_argument("application_id", help="the application's id (from extension list)")
    verdict = answer.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--grant", action="store_const", const="granted", dest="outcome")
    verdict.add_argument("--refuse", action="store_const", const="refused", dest="outcome")
    answer.add_argument("--until", default="", help="with --grant: the date granted "
                                                    "(YYYY-MM-DD)")
    answer.add_argument("--note", default="", help="a note for the person")
    add_client_options(answer)
    answer.set_defaults(handler=run_answer)
    group.set_defaults(handler=lambda _args: group.print_help() or 2)


def run_list(args: argparse.Namespace) -> int:
    """Print the applications."""
    with connect(args) as client:
        reply = client.list_extensions(status=args.status)
    show(args, [message_dict(a) for a in reply.applications],
         ["application", "filed", "record", "your id", "asks until", "status"],
         [[a.application_id, a.filed_on, a.record_id, a.source_record_id, a.requested_until,
           (f"{a.outcome} until {a.granted_until}" if a.granted_until else a.outcome)
           or "open"] for a in reply.applications],
         empty="no extension applications")
    return EXIT_OK


def run_answer(args: argparse.Namespace) -> int:
    """Answer one application."""
    with connect(args) as client:
        reply = client.answer_extension(args.application_id, args.outcome,
                                        granted_until=args.until, note=args.note)
    show(args, message_dict(reply), ["answer record", "audit entry"],
         [[reply.answer_record_id, f"#{reply.audit_seq}"]])
    return EXIT_OK
