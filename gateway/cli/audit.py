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

from gateway.audit.continuation import (
    ContinuationError,
    check_continuation,
    first_entry_of_export,
)
from gateway.audit.verifier import ExportError, VerifyReport, verify_export
from gateway.cli import audit_mirror, audit_proof, audit_query
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    print_json,
)
from gateway.crypto.signatures import AnyVerifyKey, load_verify_key
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
    verify.add_argument("--party-keys", type=Path, metavar="DIR",
                        help="folder of the parties' registered public keys (<party>.sign.pub, "
                             "e.g. keys/parties): every signed request in the export must "
                             "verify under its requester's key")
    verify.add_argument("--continues", type=Path, metavar="CHECKPOINT",
                        help="the final checkpoint of the log this one continues (after "
                             "`credgate keys rotate log`): the export's first entry must name "
                             "it; with --continues-key")
    verify.add_argument("--continues-key", type=Path, metavar="PUB",
                        help="the public key of the log this one continues "
                             "(gateway.log.retired-<n>.pub)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: for large exports on a terminal)")
    verify.set_defaults(handler=run_verify)

    audit_query.register_actions(actions)
    audit_proof.register_actions(actions)
    audit_mirror.register_actions(actions)


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


def _party_keys(folder: Path | None) -> dict[str, list[AnyVerifyKey]] | None:
    """The registered keys in a folder, by party id (with retired ones); raises ExportError."""
    if folder is None:
        return None
    if not folder.is_dir():
        raise ExportError(f"party keys folder not found: {folder}")
    keys: dict[str, list[AnyVerifyKey]] = {}
    for path in sorted(folder.iterdir()):
        party, dot, rest = path.name.partition(".sign.")
        if dot and rest.endswith("pub") and (rest == "pub" or rest.startswith("retired")):
            keys.setdefault(party, []).append(load_verify_key(path))
    return keys


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
                               origin=args.origin, progress=bar,
                               party_keys=_party_keys(args.party_keys))
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
    if report.ok and args.continues is not None:
        return _verify_continuation(args)
    return EXIT_OK if report.ok else EXIT_REFUSED


def _verify_continuation(args: argparse.Namespace) -> int:
    """Check that the export's first entry names the previous log's final checkpoint."""
    try:
        if args.continues_key is None:
            raise ExportError("--continues needs --continues-key (the previous log's key)")
        previous = _read(args.continues, "previous log's checkpoint") or ""
        first = first_entry_of_export(args.export)
        old_key = load_verify_key(args.continues_key)
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        old = check_continuation(first, previous, [old_key])
    except ContinuationError as exc:
        print(f"FAILED: {exc.message}")
        return EXIT_REFUSED
    print(f"  continues     {old.origin} at size {old.size:,} (its final checkpoint, "
          "signed by the previous log key)")
    return EXIT_OK


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
    if report.signatures is not None:
        done, unknown = report.signatures
        print(f"  signatures    {done:,} request signature(s) verified"
              + (f", {unknown:,} of parties without a registered key" if unknown else ""))
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
