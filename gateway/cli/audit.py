"""`credgate audit verify|query|export`: regulators check, search and export the audit log.

`verify` needs nothing but an export and the log's public key (no gateway, no
database); `query` and `export` go through the gateway's AuditService as a regulator.

Exit codes: 0 the export matches every signed checkpoint; 1 verification failed (the
output names the first bad entry); 2 broken input (unreadable export, key or checkpoint
file, or a checkpoint this export cannot be checked against).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

import grpc

from gateway.audit.verifier import ExportError, VerifyReport, verify_export
from gateway.cli import audit_proof
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    ID_HELP,
    add_client_options,
    connect,
    id_number_argument,
    print_json,
    print_table,
    rpc_failure,
)
from gateway.crypto.signatures import load_verify_key
from gateway.errors import CredgateError

PROGRESS_FROM = 100_000  # entries: smaller exports verify in well under a second


def register(commands: argparse._SubParsersAction) -> None:
    """Add the audit command group."""
    audit = commands.add_parser("audit", help="verify an audit log export (regulators)")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="check an export against the gateway's signed checkpoints",
        description="Recompute the RFC 6962 Merkle tree of an audit export and check it "
                    "against the gateway's signed checkpoints (C2SP tlog-checkpoint), using "
                    "nothing but the export and the gateway's log public key. Exit 0: "
                    "verified; 1: verification failed, naming the first bad entry; 2: "
                    "broken input.")
    verify.add_argument("export", type=Path, help="the export file (NAME; side files "
                        "NAME.leafhashes and NAME.checkpoint are found beside it)")
    verify.add_argument("--log-key", type=Path, required=True,
                        help="the gateway's log public key file (gateway.log.pub)")
    verify.add_argument("--checkpoint", type=Path,
                        help="a checkpoint you received from the gateway (default: "
                             "NAME.checkpoint when present, else the newest one bundled in "
                             "the export)")
    verify.add_argument("--previous", type=Path,
                        help="a checkpoint you verified earlier: the export must extend it")
    verify.add_argument("--origin", help="the log origin to expect (default: the export's)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: for large exports on a terminal)")
    verify.set_defaults(handler=run_verify)

    query = actions.add_parser(
        "query", help="search the audit log through the gateway (regulator)",
        description="List audit entries by time range, requester, purpose, decision, action "
                    "or subject (give the ID number; the gateway looks up its blind index).")
    query.add_argument("--from", dest="time_from", default="", help="RFC 3339 start")
    query.add_argument("--to", dest="time_to", default="", help="RFC 3339 end")
    query.add_argument("--requester", default="", help="party id")
    query.add_argument("--purpose", default="", help="purpose code")
    query.add_argument("--decision", default="", choices=("", "allow", "deny"))
    query.add_argument("--action", default="", help="e.g. query.subject")
    query.add_argument("--subject", default="",
                       help="the person's 18-digit ID number" + ID_HELP)
    query.add_argument("--limit", type=int, default=100, help="entries per page (max 1000)")
    query.add_argument("--all", action="store_true", help="follow every page")
    add_client_options(query, party="regulator")
    query.set_defaults(handler=run_query)

    export = actions.add_parser(
        "export", help="export a range of the log with its signed checkpoint (regulator)",
        description="Write the log as the JSON Lines export that `credgate audit verify` "
                    "checks, plus OUT.checkpoint with the gateway's signed checkpoint.")
    export.add_argument("out", type=Path, help="export file to write")
    export.add_argument("--start", type=int, default=1, help="first seq (default 1)")
    export.add_argument("--end", type=int, default=0, help="last seq (default: all)")
    export.add_argument("--force", action="store_true",
                        help="replace an existing export (only once the new one is complete)")
    add_client_options(export, party="regulator")
    export.set_defaults(handler=run_export)
    audit_proof.register_actions(actions)


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, *, force: bool | None) -> None:
        self._stream = stream
        self._force = force
        self._shown = False
        self._began = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        """Report progress (the verifier's callback)."""
        if self._force is False:
            return
        if self._force is None and (total < PROGRESS_FROM or not self._stream.isatty()):
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = min(1.0, done / total) if total else 1.0
        bar = "#" * int(frac * 30)
        rate = done / max(now - self._began, 1e-9)
        self._stream.write(f"\rverifying [{bar:<30}] {frac:4.0%} {done:,}/{total:,} entries "
                           f"{rate:,.0f}/s")
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        """End the bar's line."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{what} cannot be read: {path} ({type(exc).__name__})") from None


def run_verify(args: argparse.Namespace) -> int:
    """Verify an export and print the verdict."""
    bar = ProgressBar(sys.stderr, force=args.progress)
    checkpoint = args.checkpoint
    beside = Path(f"{args.export}.checkpoint")
    saved_with_it = checkpoint is None and beside.is_file()
    if saved_with_it:
        checkpoint = beside  # what `credgate audit export` saved with this export
    try:
        key = load_verify_key(args.log_key)
        report = verify_export(args.export, _read(checkpoint, "checkpoint file"), key,
                               previous_checkpoint=_read(args.previous, "previous checkpoint"),
                               origin=args.origin, progress=bar)
    except CredgateError as exc:
        bar.finish()
        if saved_with_it and exc.reason == "not_covered":
            # The checkpoint saved with this very export covers more than it holds: the
            # export was cut short. That is a verdict, not a request for a newer export.
            print(f"FAILED: the export ends before the checkpoint saved with it "
                  f"({beside.name}): it was cut short", file=sys.stdout)
            return EXIT_REFUSED
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    bar.finish()
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    return EXIT_OK if report.ok else EXIT_REFUSED


def print_report(report: VerifyReport) -> None:
    """The verdict for people."""
    if report.ok:
        print("OK: the export matches the gateway's signed checkpoints")
    else:
        print(f"FAILED: {report.failure}")
    print(f"  log           {report.origin}")
    print(f"  entries       {report.entries:,} (seq {report.first_seq:,}..{report.last_seq:,})")
    if report.checkpoint_size is not None:
        print(f"  checkpoint    size {report.checkpoint_size:,}")
    if report.previous_size is not None:
        verdict = "consistent" if report.ok else "not shown consistent"
        print(f"  previous      size {report.previous_size:,}: {verdict}")
    print(f"  roots checked {len(report.checked_sizes):,} checkpoint size(s)")
    if report.ok:
        return
    if report.located == "exact":
        print(f"  first bad entry  seq {report.first_bad_seq:,} (the first entry that differs "
              "from the signed history)")
    elif report.bad_range is not None:
        lo, hi = report.bad_range
        print(f"  first bad entry  between seq {lo:,} and {hi:,} (the signed roots narrow it "
              "to this range)")
        if report.first_bad_seq is not None:
            print(f"  first malformed  seq {report.first_bad_seq:,} is not a canonical entry")


def run_query(args: argparse.Namespace) -> int:
    """Search the log and print a table (or JSON)."""
    from google.protobuf.json_format import MessageToDict

    from gateway.api import pb

    request = pb.ListAuditEntriesRequest(
        time_from=args.time_from, time_to=args.time_to, requester=args.requester,
        purpose=args.purpose, decision=args.decision, action=args.action,
        subject_id=id_number_argument(args.subject) if args.subject else "",
        page_size=args.limit)
    entries = []
    try:
        with connect(args) as client:
            while True:
                reply = client.audit.ListAuditEntries(request, timeout=60)
                entries.extend(reply.entries)
                if not (args.all and reply.next_page_token):
                    break
                request.page_token = reply.next_page_token
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    if args.json:
        print_json([MessageToDict(e, preserving_proto_field_name=True,
                                  always_print_fields_with_no_presence=True) for e in entries])
        return EXIT_OK
    print_table(
        ["seq", "time", "requester", "action", "purpose", "decision", "reason", "consent"],
        [[e.seq, e.time, e.requester, e.action, e.purpose or "-", e.decision,
          e.reason or "-", e.consent_id or "-"] for e in entries])
    if not args.all and reply.next_page_token:
        print(f"(more entries: --all, or continue with page token {reply.next_page_token})")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    """Stream an export to a file and its checkpoint beside it."""
    from gateway.api import pb

    checkpoint = ""
    written = 0
    # Written beside the target and renamed only once complete: a refused or broken
    # transfer never replaces (or truncates) an export a regulator already holds.
    partial = args.out.with_name(f".{args.out.name}.partial")
    side = Path(f"{args.out}.checkpoint")
    if not args.force and (args.out.exists() or side.exists()):
        print(f"credgate: {args.out} exists; pass --force to replace it", file=sys.stderr)
        return EXIT_BROKEN
    try:
        with connect(args) as client, partial.open("wb") as fh:
            for chunk in client.audit.ExportAudit(
                    pb.ExportAuditRequest(start_seq=args.start, end_seq=args.end),
                    timeout=3600):
                if chunk.jsonl:
                    fh.write(chunk.jsonl)
                    written += len(chunk.jsonl)
                if chunk.checkpoint:
                    checkpoint = chunk.checkpoint
        side_partial = side.with_name(f".{side.name}.partial")
        side_partial.write_text(checkpoint, encoding="utf-8")
        partial.replace(args.out)
        side_partial.replace(side)
    except grpc.RpcError as err:
        partial.unlink(missing_ok=True)
        return rpc_failure(err, args)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"credgate: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    print(f"wrote {written} bytes to {args.out} and its checkpoint to {side}")
    return EXIT_OK
