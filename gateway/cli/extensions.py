"""`credgate extension apply|list|answer`: extension applications (申请延期).

People apply through the citizen portal (`extension apply`: an extension_application
record citing the record whose obligation they ask more time for); the department that
provided that record lists the applications and grants (until a date) or refuses each,
once.
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
    """Add the extension command group."""
    group = commands.add_parser(
        "extension", help="extension applications (申请延期)",
        description="Apply for a person (citizen portal); list and answer people's "
                    "applications for more time to meet an obligation one of your records "
                    "states (the providing department).")
    actions = group.add_subparsers(dest="extension_command", metavar="ACTION")
    apply = command_parser(
        actions, "apply", help="apply for an extension for a person (citizen portal)",
        description="Ask the department that provided a record (a court listing, a "
                    "penalty, a major tax case, a commitment) for more time to meet the "
                    "obligation it states; whoever may see the record sees the application "
                    "and the answer with it.",
        example="credgate extension apply - --record rec-... --until 2027-03-31 \\\n"
                "    --statement 因病住院申请延期缴纳 < id.txt")
    apply.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    apply.add_argument("--record", required=True, help="the record id the obligation is in")
    apply.add_argument("--until", required=True, help="the date asked for (YYYY-MM-DD)")
    apply.add_argument("--statement", required=True, help="the person's reasons")
    add_client_options(apply, party="citizen_portal")
    apply.set_defaults(handler=run_apply)
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


def run_apply(args: argparse.Namespace) -> int:
    """File one application for the person."""
    today = city_today(SystemClock()).isoformat()  # the day the person applies
    with connect(args) as client:
        reply = client.submit_records([{
            "subject_id": id_number_argument(args.subject_id),
            "category": "extension_application", "severity": "not_applicable",
            "event_date": today, "source_record_id": fresh_source_id("extension"),
            "fields": {"about_record_id": args.record, "requested_until": args.until,
                       "statement": args.statement}}])
    [filed] = reply.results
    show(args, message_dict(reply), ["application", "audit entry"],
         [[filed.record_id, f"#{reply.audit_seq}"]])
    return EXIT_OK


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
