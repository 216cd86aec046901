"""`credgate audit checkpoint|proof`: signed tree heads and proofs, checked on arrival.

Exit codes: 0 the checkpoint's signature and the proof check out; 1 they do not (the
log is not what it signed, or has forked from a checkpoint you kept); 2 broken input.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from gateway.api import pb
from gateway.audit.checkpoint import Checkpoint, verify_checkpoint
from gateway.audit.merkle import verify_consistency, verify_inclusion
from gateway.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    CliError,
    add_client_options,
    command_parser,
    connect,
    print_json,
)
from gateway.crypto.signatures import load_verify_key
from gateway.errors import CredgateError


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add checkpoint and proof to the `audit` command group."""
    checkpoint = command_parser(
        actions, "checkpoint", help="the log's signed checkpoint, signature checked (regulator)",
        description="Fetch the gateway's latest (or, with --fresh, a newly signed) C2SP "
                    "checkpoint, check its signature with the log public key and print its "
                    "size, root and time. Keep it: a later `audit proof --previous` shows "
                    "the log only grew from it.",
        example="credgate audit checkpoint --fresh --out today.checkpoint")
    checkpoint.add_argument("--fresh", action="store_true", help="have the gateway sign now")
    checkpoint.add_argument("--out", type=Path, help="write the checkpoint text here")
    checkpoint.add_argument("--force", action="store_true", help="overwrite --out")
    _key_option(checkpoint)
    add_client_options(checkpoint, party="regulator")
    checkpoint.set_defaults(handler=run_checkpoint)

    proof = command_parser(
        actions, "proof", help="prove an entry is in the log, or the log only grew (regulator)",
        description="--seq N: an RFC 9162 inclusion proof of entry N in the signed tree. "
                    "--previous FILE: a consistency proof from a checkpoint you kept to "
                    "the gateway's current one. Both are checked here against checkpoints "
                    "whose signatures are checked with the log public key. Exit 1 when a "
                    "proof or a signature fails.",
        example="credgate audit proof --seq 42\n"
                "credgate audit proof --previous yesterday.checkpoint --json")
    which = proof.add_mutually_exclusive_group(required=True)
    which.add_argument("--seq", type=int, help="the entry's sequence number")
    which.add_argument("--previous", type=Path, help="a checkpoint file kept earlier")
    _key_option(proof)
    add_client_options(proof, party="regulator")
    proof.set_defaults(handler=run_proof)


def _key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-key", type=Path,
                        help="the gateway's log public key (default: KEYS/gateway.log.pub)")


def _verified(args: argparse.Namespace, text: str, what: str) -> Checkpoint:
    """A checkpoint whose signature checks out; raises CliError (exit 1) when it does not."""
    key = load_verify_key(args.log_key or args.keys / "gateway.log.pub")
    try:
        return verify_checkpoint(text, key)
    except CredgateError as exc:
        raise CliError(f"FAILED: {what} does not carry a valid signature of the log key: "
                       f"{exc.message}", EXIT_REFUSED) from None


def _describe(cp: Checkpoint) -> dict[str, object]:
    return {"origin": cp.origin, "size": cp.size,
            "root": base64.b64encode(cp.root).decode("ascii"),
            "time": cp.time.isoformat() if cp.time else None}


def run_checkpoint(args: argparse.Namespace) -> int:
    """Fetch, check and print (or save) a checkpoint."""
    if args.out is not None and args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists; pass --force to overwrite it")
    with connect(args) as client:
        reply = client.audit.GetCheckpoint(pb.GetCheckpointRequest(fresh=args.fresh),
                                           timeout=30)
    cp = _verified(args, reply.text, "the gateway's checkpoint")
    if args.out is not None:
        args.out.write_text(reply.text, encoding="utf-8")
    if args.json:
        print_json({**_describe(cp), "verified": True, "text": reply.text})
    else:
        print(f"checkpoint of {cp.origin}: size {cp.size:,}, signature verified")
        print(f"  root  {_describe(cp)['root']}")
        print(f"  time  {_describe(cp)['time'] or '-'}")
        if args.out is not None:
            print(f"  saved to {args.out}")
    return EXIT_OK


def _fail(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print_json({"verified": False, "failure": message})
    else:
        print(f"FAILED: {message}")
    return EXIT_REFUSED


def run_proof(args: argparse.Namespace) -> int:
    """Fetch a proof and check it."""
    if args.previous is not None:
        return _consistency(args)
    if args.seq < 1:
        raise CliError("--seq counts from 1")
    with connect(args) as client:
        reply = client.audit.GetInclusionProof(pb.InclusionProofRequest(seq=args.seq),
                                               timeout=60)
    cp = _verified(args, reply.checkpoint.text, "the checkpoint sent with the proof")
    if reply.tree_size != cp.size:
        return _fail(args, "the proof is for another tree size than its checkpoint")
    try:
        verify_inclusion(reply.leaf_hash, reply.leaf_index, reply.tree_size,
                         list(reply.hashes), cp.root)
    except CredgateError as exc:
        return _fail(args, f"entry {args.seq} is not shown in the signed tree: {exc.message}")
    if args.json:
        print_json({"verified": True, "seq": args.seq, "tree_size": cp.size,
                    "leaf_hash": base64.b64encode(reply.leaf_hash).decode("ascii"),
                    "hashes": [base64.b64encode(h).decode("ascii") for h in reply.hashes]})
    else:
        print(f"OK: entry {args.seq} is in the signed tree of size {cp.size:,} "
              f"({len(reply.hashes)} proof hashes)")
    return EXIT_OK


def _consistency(args: argparse.Namespace) -> int:
    try:
        old_text = args.previous.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.previous}: {type(exc).__name__}") from None
    old = _verified(args, old_text, str(args.previous))
    with connect(args) as client:
        new_text = client.audit.GetCheckpoint(pb.GetCheckpointRequest(fresh=True),
                                              timeout=30).text
        new = _verified(args, new_text, "the gateway's checkpoint")
        if new.size < old.size:
            return _fail(args, f"the log has {new.size:,} entries, fewer than the "
                               f"{old.size:,} of {args.previous}: it was rolled back")
        hashes: list[bytes] = []
        if 0 < old.size < new.size:
            reply = client.audit.GetConsistencyProof(
                pb.ConsistencyProofRequest(old_size=old.size, new_size=new.size), timeout=60)
            hashes = list(reply.hashes)
    try:
        verify_consistency(old.size, new.size, old.root, new.root, hashes)
    except CredgateError as exc:
        return _fail(args, f"the log is not an extension of {args.previous}: {exc.message}")
    if args.json:
        print_json({"verified": True, "old": _describe(old), "new": _describe(new)})
    else:
        print(f"OK: the log grew from {old.size:,} to {new.size:,} entries without changing "
              f"any of the first {old.size:,}")
    return EXIT_OK
