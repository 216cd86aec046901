"""`credgate consent issue|revoke`: the citizen portal's consent artefacts."""

from __future__ import annotations

import argparse
from datetime import timedelta

import grpc

from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    add_client_options,
    connect,
    id_number_argument,
    print_json,
    rpc_failure,
)
from gateway.clock import SystemClock, parse_rfc3339


def register(commands: argparse._SubParsersAction) -> None:
    """Add the consent command group."""
    consent = commands.add_parser(
        "consent", help="issue or revoke a person's consent (citizen portal)",
        description="Consent artefacts are signed with the issuing party's Ed25519 key "
                    "(keys/parties/PARTY.sign.key) and registered with the gateway.")
    actions = consent.add_subparsers(dest="consent_command", metavar="ACTION")

    issue = actions.add_parser("issue", help="sign and register a consent artefact")
    issue.add_argument("subject_id",
                       help="the consenting person's 18-digit ID number" + ID_HELP)
    issue.add_argument("--grantee", required=True, help="party allowed to query, by id")
    issue.add_argument("--purpose", required=True, help="purpose code, e.g. authorised_query")
    issue.add_argument("--category", action="append", required=True, dest="categories",
                       help="a category the person agrees to release (repeatable)")
    issue.add_argument("--days", type=int, default=30, help="validity in days from now")
    issue.add_argument("--not-before", help="start instant (RFC 3339); default a minute ago")
    issue.add_argument("--max-uses", type=int, default=1, help="how many queries it allows")
    issue.add_argument("--id", dest="consent_id", help="consent id (default: random)")
    add_client_options(issue, party="citizen_portal")
    issue.set_defaults(handler=run_issue)

    revoke = actions.add_parser("revoke", help="revoke a consent")
    revoke.add_argument("consent_id")
    revoke.add_argument("--reason", default="", help="why (kept in the gateway)")
    add_client_options(revoke, party="citizen_portal")
    revoke.set_defaults(handler=run_revoke)


def run_issue(args: argparse.Namespace) -> int:
    """Sign and register a consent."""
    # Back-dated a minute by default so a gateway whose clock runs slightly behind
    # does not see the new consent as not yet valid.
    start = (parse_rfc3339(args.not_before) if args.not_before
             else SystemClock().now() - timedelta(minutes=1))
    try:
        with connect(args) as client:
            consent_id = client.issue_consent(
                subject_id=id_number_argument(args.subject_id), grantee=args.grantee,
                purpose=args.purpose,
                categories=args.categories, not_before=start,
                not_after=start + timedelta(days=args.days), max_uses=args.max_uses,
                consent_id=args.consent_id)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    if args.json:
        print_json({"consent_id": consent_id})
    else:
        print(consent_id)
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke a consent."""
    try:
        with connect(args) as client:
            reply = client.revoke_consent(args.consent_id, args.reason)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    if args.json:
        print_json({"consent_id": reply.consent_id, "revoked_at": reply.revoked_at})
    else:
        print(f"{reply.consent_id} revoked at {reply.revoked_at}")
    return EXIT_OK
