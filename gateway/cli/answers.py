"""`credgate verify-answer`: check a saved answer's gateway signature, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED
from gateway.config import default_keys_dir
from gateway.crypto.signers import load_verifier
from gateway.errors import BadSignature, CredgateError
from gateway.respond.answers import load_saved, verify_answer_bytes


def register(commands: argparse._SubParsersAction) -> None:
    """Add the verify-answer command."""
    verify = commands.add_parser(
        "verify-answer", help="check the gateway's signature on a saved answer (offline)",
        description="Check that a saved answer (credgate query --save-answer FILE) is exactly "
                    "what the gateway signed, for the party, request and audit entry it "
                    "names. Needs only the gateway's answer public key. Exit 0: verified; "
                    "1: the signature does not verify; 2: not a saved answer or no key.")
    verify.add_argument("answer", type=Path, help="the saved answer file")
    verify.add_argument("--key", type=Path,
                        default=default_keys_dir() / "gateway.answer.pub",
                        help="the gateway's answer public key (default: the development key)")
    verify.add_argument("--party", default=None, help="also require this party")
    verify.add_argument("--request-digest", default=None,
                        help="also require the answer to name this request digest")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Verify one saved answer and say what it proves."""
    try:
        key = load_verifier(args.key)
        answer_type, received = load_saved(args.answer)
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        # Over the bytes as received (docs/request-signing.md), never a re-encoding.
        answer, signed = verify_answer_bytes(received, answer_type, key, party=args.party,
                                             request_digest=args.request_digest)
    except BadSignature as exc:
        print(f"NOT VERIFIED: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"verified: {answer.DESCRIPTOR.name} to {signed.party} for {signed.method}, "
          f"audit entry #{signed.audit_seq}, signed {signed.signed_at} by key "
          f"{signed.key_id} ({signed.algorithm}); request digest {signed.request_digest}")
    return EXIT_OK
