"""`credgate query`: look a person up for a purpose."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    add_client_options,
    connect,
    id_number_argument,
    message_dict,
    print_json,
    print_table,
)
from gateway.respond.answers import open_records, save_answer


def register(commands: argparse._SubParsersAction) -> None:
    """Add the query command (submit lives in gateway.cli.submit)."""
    query = commands.add_parser(
        "query", help="look a person up for a purpose",
        description="Query one person's records for a stated purpose. The gateway releases "
                    "only what policy (and, where required, the person's consent) allows.")
    query.add_argument("subject_id", help="18-digit citizen ID number" + ID_HELP)
    query.add_argument("--purpose", required=True, help="purpose code, e.g. cadre_selection")
    query.add_argument("--category", action="append", default=[], dest="categories",
                       help="limit to a category (repeatable)")
    query.add_argument("--consent", default="", help="consent id, where the purpose needs one")
    query.add_argument("--save-answer", type=Path, default=None, metavar="FILE",
                       help="keep the signed answer in FILE (check it later with "
                            "credgate verify-answer)")
    add_client_options(query)
    query.set_defaults(handler=run_query)


def run_query(args: argparse.Namespace) -> int:
    """Query a person and print what was released."""
    with connect(args) as client:
        # A saved answer is kept exactly as signed (sealed, if it came sealed).
        reply = client.query_subject(id_number_argument(args.subject_id), args.purpose,
                                     categories=args.categories, consent_id=args.consent,
                                     keep_sealed=args.save_answer is not None)
    if args.save_answer is not None:
        save_answer(args.save_answer, reply, client.last_answer_bytes())
        if reply.sealed_records and client.box_key is not None:
            reply = open_records(reply, client.box_key)
    if args.json:
        print_json(message_dict(reply))
        return EXIT_OK
    print_answer(reply, requested=args.categories)
    return EXIT_OK


def print_answer(reply: pb.QuerySubjectResponse, *, requested: Sequence[str] = ()) -> None:
    """A query's answer for people: the records, their fields, what policy withheld."""
    print(f"query {reply.query_id} for {reply.purpose}: {len(reply.records)} record(s); "
          f"audit entry #{reply.audit_seq}")
    if reply.records:
        print_table(["record", "category", "provider", "date", "shown until", "mark"],
                    [[r.record_id, r.category, r.provider, r.event_date,
                      r.display_end or "removal", "DISPUTED" if r.disputed else ""]
                     for r in reply.records])
        rows = []
        for rec in reply.records:
            for f in rec.fields:
                rows.append([rec.record_id, f.name, f.value,
                             "masked" if f.disclosure == pb.MASKED else "clear"])
            for name in rec.withheld_fields:
                rows.append([rec.record_id, name, "", "withheld"])
        print()
        print_table(["record", "field", "value", "release"], rows)
        attached = [[rec.record_id, a.kind, _attachment_text(a)]
                    for rec in reply.records for a in rec.attachments]
        if attached:
            # What the person attached to a record (自主解释, 申请延期) and the answers.
            print()
            print_table(["record", "attached", "text"], attached)
        if any(r.disputed for r in reply.records):
            print("DISPUTED: the person has objected and the provider has not answered yet")
    withheld = sorted(set(requested) - set(reply.released_categories))
    if withheld:
        print("withheld by policy or consent: " + ", ".join(withheld))


def _attachment_text(a: pb.RecordAttachment) -> str:
    """An attachment as one line: its text, the date asked for or the answer given."""
    extra = (f" [asks until {a.requested_until}]" if a.requested_until else
             f" [{a.outcome} until {a.granted_until}]" if a.granted_until else
             f" [{a.outcome}]" if a.outcome else "")
    masked = " (masked)" if a.disclosure == pb.MASKED else ""
    return f"{a.text}{extra}{masked}"
