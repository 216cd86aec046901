"""`credgate peers identity|export-bundle|list`: connecting to peer platforms (README
"Connecting platforms"). Offline commands on key folders; nothing is sent anywhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Party
from gateway.cli.common import EXIT_OK, command_parser, show
from gateway.config import default_keys_dir
from gateway.crypto.key_files import add_party_keys
from gateway.identify.trust import export_bundle, load_peer_trust


def register(commands: argparse._SubParsersAction) -> None:
    """Add the peers command group."""
    group = commands.add_parser(
        "peers", help="trust bundles of peer platforms (province, other cities, PBOC)",
        description="A peer platform is a party with the role platform whose certificates "
                    "come from its own CA, held in its trust bundle keys/peers/<id>/. "
                    "policies/sharing.toml says what goes to it and what comes from it.")
    actions = group.add_subparsers(dest="peers_command", metavar="ACTION")
    identity = command_parser(
        actions, "identity", help="make this gateway's platform certificate (development)",
        description="Issue, with this key set's CA, the client certificate and signing key "
                    "this gateway presents to its peers as PLATFORM_ID (set platform_id in "
                    "the config). DEVELOPMENT: in production your PKI issues them.",
        example="credgate peers identity city --keys /etc/credgate/keys")
    identity.add_argument("platform_id")
    identity.add_argument("--keys", type=Path, default=default_keys_dir())
    identity.set_defaults(handler=run_identity)

    bundle = command_parser(
        actions, "export-bundle", help="write this gateway's trust bundle for a peer",
        description="Write the folder a peer installs as keys/peers/<PLATFORM_ID>/: this "
                    "gateway's CA, its platform signing key, its answer key and, with "
                    "--target, where the peer reaches it.",
        example="credgate peers export-bundle city --out bundle-city/ \\\n"
                "    --target city-gw.example:7443 --server-name city-gw.example")
    bundle.add_argument("platform_id")
    bundle.add_argument("--out", type=Path, required=True)
    bundle.add_argument("--keys", type=Path, default=default_keys_dir())
    bundle.add_argument("--target", default="", help="host:port the peer calls")
    bundle.add_argument("--server-name", default="",
                        help="the name on this gateway's server certificate")
    bundle.set_defaults(handler=run_export)

    listing = command_parser(
        actions, "list", help="the peers' trust bundles in a key folder",
        description="Each installed bundle: its anchors, whether it holds a signing key, "
                    "and where the peer is reached.",
        example="credgate peers list --keys /etc/credgate/keys")
    listing.add_argument("--keys", type=Path, default=default_keys_dir())
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)


def run_identity(args: argparse.Namespace) -> int:
    """Issue the platform identity with the key set's CA."""
    add_party_keys(args.keys, Party(id=args.platform_id, name=f"{args.platform_id} platform",
                                    name_zh="平台", kind="platform", roles=("platform",)))
    print(f"platform certificate and signing key of {args.platform_id} written to "
          f"{args.keys / 'parties'}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    """Write the trust bundle."""
    export_bundle(args.keys, args.platform_id, args.out, target=args.target,
                  server_name=args.server_name)
    print(f"trust bundle of {args.platform_id} written to {args.out}; the peer installs it "
          f"as keys/peers/{args.platform_id}/")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """Show the installed bundles."""
    trust = load_peer_trust(args.keys)
    bundles = list(trust.bundles.values()) if trust is not None else []
    docs: list[dict[str, Any]] = []
    for b in bundles:
        address = b.address()
        docs.append({"peer": b.peer,
                     "anchors": [a.subject for a in b.anchors],
                     "signing_key": b.sign_key is not None,
                     "target": address.target if address else None})
    rows = [[d["peer"], "; ".join(d["anchors"]), "yes" if d["signing_key"] else "no",
             d["target"] or "-"] for d in docs]
    show(args, docs, ["peer", "anchors", "signing key", "target"], rows,
         empty="(no peer trust bundles)")
    return EXIT_OK
