"""`credgate access-report`: who looked at a person's data (citizen portal)."""

from __future__ import annotations

import argparse

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    add_client_options,
    command_parser,
    connect,
    id_number_argument,
    message_dict,
    show,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the access-report command."""
    report = command_parser(
        commands, "access-report", help="who looked at a person's data, when and why",
        description="The person's own access report through the citizen portal, with their "
                    "self_query consent: every allowed query and check of their records, "
                    "and per category whether data was released or policy only allowed it "
                    "(a check reads records for a yes or no; a query may find no record). "
                    "Uses for a purpose with a disclosure delay (a criminal investigation) "
                    "appear once the delay has passed.",
        example="credgate access-report - --consent C-123 < id.txt")
    report.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    report.add_argument("--consent", required=True, help="the person's self_query consent id")
    add_client_options(report, party="citizen_portal")
    report.set_defaults(handler=run)


def access(event: pb.AccessEvent) -> list[dict[str, str]]:
    """Each category of an access with what happened to it: released or allowed."""
    released = set(event.released_categories)
    return [{"category": c, "access": "released" if c in released else "allowed"}
            for c in event.categories]


def run(args: argparse.Namespace) -> int:
    """Print the person's access report."""
    with connect(args) as client:
        reply = client.subject_access_report(id_number_argument(args.subject_id),
                                             args.consent)
    rows = []
    for e in reply.events:
        who = f"{e.party} {e.party_name_zh}".strip()
        why = f"{e.purpose} {e.purpose_name_zh}".strip()
        cats = ", ".join(f"{a['category']} ({a['access']})" for a in access(e)) or "-"
        rows.append([e.time, who, why, cats])
    value = [{**message_dict(e), "access": access(e)} for e in reply.events]
    show(args, value, ["time", "party", "purpose", "categories"], rows,
         empty="nobody has looked at this person's data")
    return EXIT_OK
