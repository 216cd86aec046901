"""`credgate alerts`: follow the monitor's alerts (regulators), `alerts ack` one of them.

The alerts are audit entries raised by policies/monitoring.toml; the watch starts after
a seq (``--after``, 0 for the whole log) and follows new ones until interrupted, or
stops once caught up with ``--no-follow``. A table for people, JSON Lines (one event a
line) with ``--json``. Each event carries its seq: pass the last one back as --after to
resume where a watch stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    add_client_options,
    command_parser,
    connect,
    message_dict,
    print_table,
)

HEADERS = ["seq", "kind", "alert", "rule", "severity", "party", "subject (blind index)",
           "entries", "time"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add `alerts` (watch) and `alerts ack`."""
    group = commands.add_parser(
        "alerts", help="follow the anomaly alerts (regulators); acknowledge one",
        description="Follow the alerts the gateway's monitoring rules raise "
                    "(policies/monitoring.toml), from a position in the audit log. "
                    "`credgate alerts ack ID --note TEXT` acknowledges one.")
    _watch_options(group)
    actions = group.add_subparsers(dest="alerts_command", metavar="ACTION")
    watch = command_parser(
        actions, "watch", help="follow the alerts (the default action)",
        description="Alerts and acknowledgements after --after, then as they come.",
        example="credgate alerts watch --after 1200 --json")
    _watch_options(watch)
    ack = command_parser(
        actions, "ack", help="acknowledge an alert with a note",
        description="Acknowledge an alert; the acknowledgement and its note (sealed) are "
                    "an audit entry. The note must not name a person.",
        example="credgate alerts ack al-pq3rzk2m7bxw4ndy6tcfvh5s --note \"agency asked\"")
    ack.add_argument("alert_id", metavar="ID", help="the alert's id (al-...)")
    ack.add_argument("--note", default="", help="what was done (no personal data)")
    add_client_options(ack, party="regulator")
    ack.set_defaults(handler=run_ack)


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--after", type=int, default=0, metavar="SEQ",
                        help="start after this audit seq (default 0: the whole log)")
    parser.add_argument("--no-follow", action="store_true",
                        help="stop once caught up instead of following new alerts")
    add_client_options(parser, party="regulator")
    parser.set_defaults(handler=run_watch)


def row(event: pb.AlertEvent) -> list[Any]:
    """One alert or acknowledgement as a table row."""
    if event.kind == "ack":
        return [event.seq, "ack", event.alert_id, event.rule, "-", event.acked_by, "-",
                "-", event.time]
    return [event.seq, event.kind, event.alert_id, event.rule, event.severity,
            event.party or "-", event.subject_index or "-",
            ",".join(map(str, event.trigger_seqs)), event.time]


def run_watch(args: argparse.Namespace) -> int:
    """Print alerts as they come; a table row or a JSON line each."""
    shown = 0
    with connect(args) as client:
        call = client.watch_alerts(after_seq=args.after, follow=not args.no_follow)
        try:
            for event in call:
                if event.kind == "position":
                    if args.json:
                        print(json.dumps({"kind": "position", "seq": event.seq}), flush=True)
                    continue
                if args.json:
                    print(json.dumps(message_dict(event), ensure_ascii=False), flush=True)
                else:
                    print_table(HEADERS if shown == 0 else [""] * len(HEADERS), [row(event)])
                    if event.kind == "alert":
                        print(f"    {event.explanation}\n    {event.explanation_zh}")
                    elif event.note:
                        print(f"    note: {event.note}")
                    sys.stdout.flush()
                shown += 1
        finally:
            call.cancel()
    if not args.json and not shown:
        print("no alerts")
    return EXIT_OK


def run_ack(args: argparse.Namespace) -> int:
    """Acknowledge one alert."""
    with connect(args) as client:
        reply = client.ack_alert(args.alert_id, args.note)
    if args.json:
        print(json.dumps(message_dict(reply)))
    else:
        print(f"{reply.alert_id} acknowledged (audit seq {reply.seq})")
    return EXIT_OK
