"""`credgate audit mirror DIR`: a regulator's own verified copy of the audit log.

Exit codes: 0 the mirror is up to date with the gateway's newest checkpoint; 1 the
gateway's log was refused (rolled back, forked, or entries not the signed ones); 2
broken input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.api import pb
from gateway.audit.mirror import Mirror, MirrorRefused
from gateway.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    add_client_options,
    command_parser,
    connect,
    print_json,
)
from gateway.crypto import load_verify_key


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
    add_client_options(mirror, party="regulator")
    mirror.set_defaults(handler=run_mirror)


def run_mirror(args: argparse.Namespace) -> int:
    """Update the mirror and say what happened."""
    key = load_verify_key(args.log_key or args.keys / "gateway.log.pub")
    mirror = Mirror(args.folder, key, args.origin)
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
            if args.json:
                print_json({"ok": False, "failure": exc.message, "reason": exc.reason})
            else:
                print(f"REFUSED: {exc.message}")
            return EXIT_REFUSED
    if args.json:
        print_json({"ok": True, "old_size": result.old_size, "new_size": result.new_size,
                    "origin": result.checkpoint.origin})
    else:
        added = result.new_size - result.old_size
        print(f"mirror of {result.checkpoint.origin}: {result.new_size:,} entries "
              f"({added:,} new), checkpoint signature and consistency verified")
    return EXIT_OK
