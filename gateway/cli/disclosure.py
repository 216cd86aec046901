"""`credgate disclosure export`: the public credit website's files, checked on arrival."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    CliError,
    add_client_options,
    connect,
    print_json,
    rpc_failure,
)
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.export import (
    CSV_FILE,
    JSON_FILE,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    verify_manifest,
)
from gateway.disclosure.left_out import REASONS
from gateway.errors import BadSignature, ConfigurationError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the disclosure command group."""
    disclosure = commands.add_parser(
        "disclosure", help="public disclosure for the credit website",
        description="The public credit website's view: records the catalogue flags public, "
                    "desensitised by the public masking profile and passed by the privacy "
                    "review gate.")
    actions = disclosure.add_subparsers(dest="disclosure_command", metavar="ACTION")
    export = actions.add_parser(
        "export", help="write the disclosure as JSON and CSV with a signed manifest",
        description="Fetch the export, check the gateway's signature on the manifest and "
                    "every file's hash, then write disclosure.json, disclosure.csv, "
                    "manifest.json and manifest.sig into DIR. Exit 1 when the check fails.")
    export.add_argument("directory", type=Path, help="where to write the files")
    export.add_argument("--category", action="append", default=[], dest="categories",
                        help="limit to a public category (repeatable)")
    export.add_argument("--log-key", type=Path,
                        help="the gateway's public key (default: KEYS/gateway.log.pub)")
    export.add_argument("--force", action="store_true",
                        help="replace the files of an earlier export in DIR")
    add_client_options(export, party="credit_website")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Fetch, verify and write the export."""
    held = [n for n in (JSON_FILE, CSV_FILE, MANIFEST_FILE, SIGNATURE_FILE)
            if (args.directory / n).exists()]
    if held and not args.force:
        raise CliError(f"{args.directory} holds an earlier export ({', '.join(held)}); pass "
                       "--force to replace it, or choose another folder")
    try:
        key = load_verify_key(args.log_key or args.keys / "gateway.log.pub")
    except ConfigurationError as err:
        print(f"credgate: {err.message}", file=sys.stderr)
        return EXIT_BROKEN
    try:
        with connect(args) as client:
            export = client.export_disclosure(args.categories)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    files = export.files
    try:
        doc = verify_manifest(export.manifest, export.signature, key, files)
    except BadSignature as err:
        print(f"credgate: the export does not match the gateway's signature: {err.message}",
              file=sys.stderr)
        return EXIT_REFUSED
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (args.directory / Path(name).name).write_bytes(content)
    (args.directory / MANIFEST_FILE).write_bytes(export.manifest)
    (args.directory / SIGNATURE_FILE).write_bytes(export.signature)
    if args.json:
        print_json({**doc, "withheld_batches": export.withheld_batches})
    else:
        counts = doc.get("counts", {})
        total = counts.get("total", 0) if isinstance(counts, dict) else 0
        print(f"wrote {total} record(s) to {args.directory} (manifest verified)"
              + (f"; {export.withheld_batches} batch(es) withheld by the privacy review"
                 if export.withheld_batches else ""))
        left_out = doc.get("left_out", {})
        if isinstance(left_out, dict) and left_out:
            print("left out (counts only): " + "; ".join(
                f"{REASONS.get(code, code)} {code}: {n}" for code, n in left_out.items()))
    return EXIT_OK
