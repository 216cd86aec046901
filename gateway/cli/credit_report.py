"""`credgate report credit` (the portal obtains a person's signed credit report) and
`credgate report verify`: check a signed personal credit report offline.

The receiver (an employer, a tender's organiser) needs the report file and the gateway's
public key (gateway.log.pub), nothing else: no connection, no keys of its own. Given the
applicant's ID number (on standard input with -), it also checks the report is theirs.

Exit codes: 0 verified; 1 the report does not verify; 2 broken input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    ID_HELP,
    CliError,
    add_client_options,
    command_parser,
    connect,
    id_number_argument,
    print_json,
    print_table,
)
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.credit_report import VerifiedReport, verify_report
from gateway.errors import BadSignature, CredgateError


def register(actions: argparse._SubParsersAction) -> None:
    """Add `report credit` and `report verify` to the report command group."""
    credit = command_parser(
        actions, "credit", help="obtain a person's signed credit report (citizen portal)",
        description="The person's own credit report (个人信用报告) of exactly the categories "
                    "they chose, signed by the gateway, with their self_query consent "
                    "covering each. The signature is checked before the file is written; "
                    "the person hands the file to an employer or a tender, who checks it "
                    "with `credgate report verify`.",
        example="credgate report credit - --consent C-123 --category honour_list \\\n"
                "    --category volunteer_service --out report.json < id.txt")
    credit.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    credit.add_argument("--consent", required=True, help="the person's self_query consent id")
    credit.add_argument("--category", action="append", required=True, dest="categories",
                        help="a category the report shows (repeatable)")
    credit.add_argument("--out", type=Path, required=True, help="the report file to write")
    credit.add_argument("--log-key", type=Path,
                        help="the gateway's public key (default: KEYS/gateway.log.pub)")
    credit.add_argument("--force", action="store_true", help="replace an existing file")
    add_client_options(credit, party="citizen_portal")
    credit.set_defaults(handler=run_credit)

    verify = actions.add_parser(
        "verify", help="verify a signed personal credit report offline (receivers)",
        description="Check the gateway's signature on a personal credit report and show "
                    "exactly the categories the person chose and their records.")
    verify.add_argument("report_file", type=Path, metavar="REPORT",
                        help="the report file the person handed over")
    verify.add_argument("--key", "--log-key", dest="key", type=Path, required=True,
                        help="the gateway's public key (gateway.log.pub)")
    verify.add_argument("--subject-id", default="",
                        help="the applicant's ID number, to check the report is theirs"
                             + ID_HELP)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=run_verify)


def run_credit(args: argparse.Namespace) -> int:
    """Obtain the report, check the gateway's signature on it, then write it."""
    if args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists; pass --force to replace it")
    try:
        key = load_verify_key(args.log_key or args.keys / "gateway.log.pub")
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    subject = id_number_argument(args.subject_id)
    with connect(args) as client:
        reply = client.credit_report(subject, args.consent, args.categories)
    try:
        report = verify_report(reply.report, key, subject_id=subject)
    except BadSignature as exc:
        print(f"credgate: the report does NOT verify: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    args.out.write_bytes(reply.report)
    if args.json:
        print_json({"report_id": reply.report_id, "audit_seq": reply.audit_seq,
                    "file": str(args.out), "categories": report.categories,
                    "records": len(report.records)})
    else:
        print(f"wrote report {reply.report_id} ({', '.join(report.categories)}; "
              f"{len(report.records)} record(s)) to {args.out}, signature verified; "
              f"audit entry #{reply.audit_seq}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Verify and print; exit 1 when the report does not verify."""
    try:
        key = load_verify_key(args.key)
        data = args.report_file.read_bytes()
        subject = id_number_argument(args.subject_id) if args.subject_id else ""
    except (CredgateError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, CredgateError) else type(exc).__name__
        print(f"credgate: {message}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        report = verify_report(data, key, subject_id=subject)
    except BadSignature as exc:
        print(f"credgate: the report does NOT verify: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print_json(dict(report.document))
    else:
        print_verified(report, checked_subject=bool(subject))
    return EXIT_OK


def print_verified(report: VerifiedReport, *, checked_subject: bool) -> None:
    """The report as people read it."""
    doc = report.document
    print(f"verified: personal credit report {doc['report_id']}, issued {doc['issued_at']} "
          f"for {doc['subject']['id_masked']}"
          + (" (matches the ID number given)" if checked_subject else ""))
    print(f"categories the person chose: {', '.join(report.categories)}\n")
    rows = [[r["category_name_zh"], r["event_date"], r["provider_name_zh"],
             "; ".join(f"{k}={v}" for k, v in sorted(r["fields"].items()))]
            for r in report.records]
    print_table(["category", "event_date", "provider", "fields"], rows)
    print(f"\n{len(rows)} record(s)")
    # What the person attached to a record (自主解释, 申请延期), beside it.
    for r in report.records:
        for a in r.get("attachments", ()):
            until = (f" (until {a['requested_until']})" if a.get("requested_until") else
                     f" ({a['outcome']} until {a['granted_until']})" if a.get("granted_until")
                     else f" ({a['outcome']})" if a.get("outcome") else "")
            print(f"{r['category_name_zh']} {r['event_date']}: {a['kind_name_zh']}{until}: "
                  f"{a['text']}")
