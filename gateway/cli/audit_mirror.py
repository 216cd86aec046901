"""`credgate audit mirror DIR`: a regulator's own verified copy of the audit log, and
`credgate audit verify-cosigned`: a checkpoint that regulators' mirrors cosigned.

Exit codes: 0 the mirror is up to date with the gateway's newest checkpoint (or the
checkpoint carries the quorum of cosignatures); 1 the gateway's log was refused (rolled
back, forked, or entries not the signed ones), or the cosignatures fall short; 2 broken
input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gateway.api import pb
from gateway.audit.checkpoint import CheckpointError, verify_checkpoint
from gateway.audit.mirror import COSIGNED, Mirror, MirrorRefused
from gateway.audit.witness import Witness, combine, verify_cosignatures
from gateway.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    CliError,
    add_client_options,
    command_parser,
    connect,
    print_json,
)
from gateway.crypto.signatures import (
    SigningKey,
    VerifyKey,
    format_key_file,
    load_ed25519_verify_key,
    load_signing_key,
    load_verify_key,
)
from gateway.errors import CredgateError


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add mirror to the `audit` command group."""
    mirror = command_parser(
        actions, "mirror", help="keep your own verified copy of the log (regulator)",
        description="Fetch the entries after the mirror's checkpoint as C2SP tlog-tiles, "
                    "check a consistency proof and that they give the gateway's signed "
                    "root, append them to DIR/log.jsonl and keep the newest checkpoint. A "
                    "gateway log that was rolled back or forked is refused (exit 1).",
        example="credgate audit mirror /srv/regulator/credgate-mirror")
    mirror.add_argument("folder", type=Path, help="the mirror folder (created if absent)")
    mirror.add_argument("--log-key", type=Path,
                        help="the gateway's log public key (default: KEYS/gateway.log.pub)")
    mirror.add_argument("--origin", help="the log origin to expect (default: the checkpoint's)")
    mirror.add_argument("--witness-key", type=Path,
                        help="cosign each verified checkpoint with this Ed25519 key (C2SP "
                             "cosignature/v1) into DIR/checkpoint.cosigned; created, with "
                             "its .pub beside it, if absent")
    mirror.add_argument("--witness-name", help="the witness's key name, e.g. "
                                               "regulator.example/w1 (with --witness-key)")
    add_client_options(mirror, party="regulator")
    mirror.set_defaults(handler=run_mirror)

    cosigned = command_parser(
        actions, "verify-cosigned",
        help="check a checkpoint's log signature and its witnesses' cosignatures",
        description="Verify the gateway's signature on a checkpoint and that at least "
                    "QUORUM of the named witnesses (regulators' mirrors) cosigned it: then "
                    "the log you were shown is the one they hold.",
        example="credgate audit verify-cosigned checkpoint.cosigned --log-key "
                "gateway.log.pub --witness regulator.example/w1=w1.pub --quorum 1")
    cosigned.add_argument("checkpoint", type=Path, nargs="+",
                          help="the cosigned checkpoint file (or several copies of one "
                               "checkpoint, each cosigned by another witness)")
    cosigned.add_argument("--log-key", type=Path, required=True,
                          help="the gateway's log public key")
    cosigned.add_argument("--witness", action="append", default=[], metavar="NAME=PUBFILE",
                          required=True, help="a witness's key name and public key file "
                                              "(repeat for each)")
    cosigned.add_argument("--quorum", type=int, default=1,
                          help="how many of the witnesses must have cosigned (default 1)")
    cosigned.add_argument("--json", action="store_true", help="print JSON")
    cosigned.set_defaults(handler=run_verify_cosigned)


def _witness(args: argparse.Namespace) -> Witness | None:
    """The witness the options name (its key created when the file is absent)."""
    if args.witness_key is None:
        if args.witness_name:
            raise CliError("--witness-name needs --witness-key")
        return None
    if not args.witness_name:
        raise CliError("--witness-key needs --witness-name (e.g. regulator.example/w1)")
    path: Path = args.witness_key
    if not path.exists():
        key = SigningKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                       encoding="ascii") as out:
            out.write(format_key_file(key, comments=[f"witness {args.witness_name}"]))
        path.with_name(path.name + ".pub").write_text(
            format_key_file(key.verify_key, comments=[f"witness {args.witness_name}"]),
            encoding="ascii")
        print(f"created the witness key {path} (public key {path}.pub)", file=sys.stderr)
    return Witness(args.witness_name, load_signing_key(path))


def run_mirror(args: argparse.Namespace) -> int:
    """Update the mirror and say what happened."""
    key = load_verify_key(args.log_key or args.keys / "gateway.log.pub")
    mirror = Mirror(args.folder, key, args.origin, witness=_witness(args))
    with connect(args) as client:
        def tile(path: str) -> bytes:
            return bytes(client.audit.GetTile(pb.TileRequest(path=path), timeout=60).data)

        def proof(old: int, new: int) -> list[bytes]:
            reply = client.audit.GetConsistencyProof(
                pb.ConsistencyProofRequest(old_size=old, new_size=new), timeout=60)
            return list(reply.hashes)

        try:
            result = mirror.update(tile, proof)
        except MirrorRefused as exc:
            return _refused(args, exc)
    if args.json:
        print_json({"ok": True, "old_size": result.old_size, "new_size": result.new_size,
                    "origin": result.checkpoint.origin})
    else:
        added = result.new_size - result.old_size
        print(f"mirror of {result.checkpoint.origin}: {result.new_size:,} entries "
              f"({added:,} new), checkpoint signature and consistency verified")
        if args.witness_key is not None:
            print(f"cosigned as {args.witness_name}: {args.folder / COSIGNED}")
    return EXIT_OK


def run_verify_cosigned(args: argparse.Namespace) -> int:
    """Check the log's signature and the quorum of cosignatures."""
    witnesses: dict[str, VerifyKey] = {}
    for spec in args.witness:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise CliError("--witness takes NAME=PUBFILE")
        witnesses[name] = load_ed25519_verify_key(Path(file))
    notes = []
    for path in args.checkpoint:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError):
            raise CliError(f"cannot read {path}") from None
    try:
        text = combine(notes)
        checkpoint = verify_checkpoint(text, load_verify_key(args.log_key))
        found = verify_cosignatures(text, witnesses, args.quorum, latest=int(time.time()) + 60)
    except CheckpointError as exc:
        return _refused(args, exc)
    if args.json:
        print_json({"ok": True, "origin": checkpoint.origin, "size": checkpoint.size,
                    "cosigned_by": found})
    else:
        print(f"{checkpoint.origin} at {checkpoint.size:,} entries: log signature verified, "
              f"cosigned by {', '.join(sorted(found))} ({len(found)} of quorum {args.quorum})")
    return EXIT_OK


def _refused(args: argparse.Namespace, exc: CredgateError) -> int:
    """Say why the log or the checkpoint was refused; the exit code for it."""
    if args.json:
        print_json({"ok": False, "failure": exc.message, "reason": exc.reason})
    else:
        print(f"REFUSED: {exc.message}")
    return EXIT_REFUSED
