"""`credgate blacklist add|lift|list`: credit agencies that broke the rules (违规经营黑名单)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    add_client_options,
    command_parser,
    connect,
    message_dict,
    show,
)

HEADERS = ["party", "listed", "by", "reason", "lifted", "lifted by"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add the blacklist command group."""
    group = commands.add_parser(
        "blacklist", help="list, lift and show blacklisted credit agencies",
        description="A listed credit agency is refused (PERMISSION_DENIED, "
                    "party_blacklisted) on every call. Security officers list and lift; "
                    "regulators may read the list. The agency's responsible staff (相关人员) "
                    "are banned from the trade by the PBOC branch's credit_practitioner_ban "
                    "records: `credgate check joint-punishment - --measure "
                    "credit_industry_ban` answers whether a person is.")
    actions = group.add_subparsers(dest="blacklist_command", metavar="ACTION")
    add = command_parser(
        actions, "add", help="blacklist a credit agency",
        description="Blacklist a credit agency; it is refused from its next call on.",
        example="credgate blacklist add credit_agency_b --reason \"resold query results\"")
    add.add_argument("agency", help="the credit agency's party id")
    add.add_argument("--reason", required=True)
    add_client_options(add, party="security_officer")
    add.set_defaults(handler=run_add)

    lift = command_parser(
        actions, "lift", help="lift a listing",
        description="Lift a credit agency's listing; its calls are decided by policy again.",
        example="credgate blacklist lift credit_agency_b --reason \"rectified, reviewed\"")
    lift.add_argument("agency", help="the credit agency's party id")
    lift.add_argument("--reason", required=True)
    add_client_options(lift, party="security_officer")
    lift.set_defaults(handler=run_lift)

    listing = command_parser(
        actions, "list", help="the blacklist",
        description="Agencies listed now (and, with --include-lifted, those lifted).",
        example="credgate blacklist list --include-lifted --party regulator")
    listing.add_argument("--include-lifted", action="store_true")
    add_client_options(listing, party="security_officer")
    listing.set_defaults(handler=run_list)


def row(e: pb.BlacklistEntry) -> list[Any]:
    """One listing as a table row."""
    return [e.party, e.listed_at, e.listed_by, e.reason, e.lifted_at or "-",
            e.lifted_by or "-"]


def _entry(args: argparse.Namespace, entry: pb.BlacklistEntry, verb: str) -> int:
    if args.json:
        show(args, message_dict(entry), [], [])
    else:
        print(f"{entry.party} {verb}")
    return EXIT_OK


def run_add(args: argparse.Namespace) -> int:
    """Blacklist an agency."""
    with connect(args) as client:
        entry = client.blacklist_agency(args.agency, args.reason)
    return _entry(args, entry, f"blacklisted at {entry.listed_at} by {entry.listed_by}")


def run_lift(args: argparse.Namespace) -> int:
    """Lift a listing."""
    with connect(args) as client:
        entry = client.lift_blacklist(args.agency, args.reason)
    return _entry(args, entry, f"lifted at {entry.lifted_at} by {entry.lifted_by}")


def run_list(args: argparse.Namespace) -> int:
    """Show the blacklist."""
    with connect(args) as client:
        reply = client.list_blacklist(include_lifted=args.include_lifted)
    show(args, [message_dict(e) for e in reply.entries], HEADERS,
         [row(e) for e in reply.entries], empty="no agency is blacklisted")
    return EXIT_OK
