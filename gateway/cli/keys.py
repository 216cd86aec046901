"""`credgate keys init`: a fresh development CA, certificates and keys."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gateway.catalogue.registry import load_catalogue
from gateway.cli.common import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED
from gateway.config import default_keys_dir, default_policies_dir, load_config
from gateway.crypto.key_files import init_keys, init_token_keys, write_box_pair
from gateway.crypto.token import DEFAULT_PIN_ENV, TokenSettings
from gateway.errors import CredgateError
from gateway.rotation.reencrypt import KINDS, Progress, reencrypt_store, rotate_key_file


def register(commands: argparse._SubParsersAction) -> None:
    """Add the keys command group."""
    keys = commands.add_parser("keys", help="create development keys and certificates")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    init = actions.add_parser(
        "init", help="create a CA, server and party certificates, signing and data keys",
        description="Create a complete DEVELOPMENT key set in DIR: a CA, the gateway's "
                    "server certificate, one client certificate and Ed25519 signing key per "
                    "party in policies/parties.toml, the gateway's log key and the data "
                    "keys. Never use these in production.")
    init.add_argument("directory", type=Path)
    init.add_argument("--policies", type=Path, default=default_policies_dir(),
                      help="policy directory whose parties.toml lists the parties")
    init.add_argument("--force", action="store_true", help="overwrite an existing key set")
    init.add_argument("--suite", choices=("international", "gm"), default="international",
                      help="cipher suite of the data keys and the answer key: international "
                           "(AES-256-GCM, HMAC-SHA256, Ed25519) or gm (SM4-GCM, HMAC-SM3, SM2)")
    init.add_argument("--pkcs11", metavar="MODULE", default=None,
                      help="create the master, blind-index and log keys in a PKCS#11 token "
                           "through this module (e.g. /usr/lib/softhsm/libsofthsm2.so); they "
                           "never leave it (international suite only)")
    init.add_argument("--token", metavar="LABEL", default=None,
                      help="the token's label (with --pkcs11)")
    init.add_argument("--pin-env", default=DEFAULT_PIN_ENV, metavar="VARIABLE",
                      help="environment variable holding the token's user PIN "
                           "(default: %(default)s)")
    init.set_defaults(handler=run_init)
    box = actions.add_parser(
        "box-key", help="make a party's X25519 key pair: its answers are then sealed to it",
        description="Write parties/PARTY.box.key (the party keeps it; the client opens sealed "
                    "answers with it) and parties/PARTY.box.pub (in the gateway's keys folder "
                    "it registers the key: the records of the party's answers are sealed to "
                    "it, so a TLS-terminating proxy sees only ciphertext).")
    box.add_argument("party")
    box.add_argument("--keys", type=Path, default=default_keys_dir(),
                     help="keys folder (default: the development keys)")
    box.set_defaults(handler=run_box_key)
    rotate = actions.add_parser(
        "rotate", help="make a fresh master, blind-index or log key active",
        description="master|index: add a fresh key to data-keys.toml (in the PKCS#11 token "
                    "when the active key lives there) and make it active. Old keys stay, so "
                    "everything stored still opens and is still found. Then send SIGHUP to "
                    "every serving instance (each logs the change in the audit log) and run "
                    "`credgate keys reencrypt`. log (with every instance stopped): close the "
                    "audit log with a final checkpoint and an export of it, keep the old "
                    "public key as gateway.log.retired-<n>.pub, make a new log key, and set "
                    "the new log's origin, place and previous checkpoint in the config file; "
                    "the next start begins the new log, naming the old one's final "
                    "checkpoint.")
    rotate.add_argument("kind", choices=(*KINDS, "log"))
    rotate.add_argument("--keys", type=Path, default=None,
                        help="keys folder (default: the config's, else the development keys)")
    rotate.add_argument("--config", type=Path, default=None,
                        help="gateway config file (log: the new log's settings are written "
                             "into it)")
    rotate.add_argument("--data-dir", type=Path, default=None, help="data folder (log)")
    rotate.add_argument("--database", default=None,
                        help="sqlite or a postgresql:// conninfo (log)")
    rotate.add_argument("--origin", default=None,
                        help="the new log's origin (log; default: the current one with /2, "
                             "/3, ... after it)")
    rotate.set_defaults(handler=run_rotate)
    again = actions.add_parser(
        "reencrypt", help="move every stored record under the active keys, while serving",
        description="Re-wrap every data key and recompute every blind index under the "
                    "active keys, record by record with a compare-and-set, so the gateway "
                    "keeps serving and two runs at once are safe. Run it after every "
                    "instance took the rotated keys (SIGHUP). Killed, it resumes where it "
                    "stopped when run again. Exit 1 if a record did not open.")
    again.add_argument("--config", type=Path, default=None, help="gateway config file")
    again.add_argument("--keys", type=Path, default=None, help="keys folder")
    again.add_argument("--data-dir", type=Path, default=None, help="data folder (SQLite)")
    again.add_argument("--database", default=None, help="sqlite or a postgresql:// conninfo")
    again.add_argument("--batch", type=int, default=200, help="records per page")
    again.set_defaults(handler=run_reencrypt)


def run_init(args: argparse.Namespace) -> int:
    """Write a key set."""
    if bool(args.pkcs11) != bool(args.token) or (args.pkcs11 and args.suite != "international"):
        print("credgate: --pkcs11 MODULE and --token LABEL go together, with the "
              "international suite", file=sys.stderr)
        return EXIT_BROKEN
    try:
        catalogue = load_catalogue(args.policies)
        init_keys(args.directory, catalogue.parties.values(), force=args.force,
                  suite_name=args.suite)
        if args.pkcs11:
            keyring = init_token_keys(args.directory,
                                      TokenSettings(args.pkcs11, args.token, args.pin_env))
            print(f"master key {keyring.active_master_id}, blind-index key "
                  f"{keyring.active_index_id} and the log key created in token {args.token!r}")
    except (CredgateError, FileExistsError, OSError) as exc:
        print(f"credgate: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    print(f"development keys for {len(catalogue.parties)} parties written to {args.directory}")
    return EXIT_OK


def run_box_key(args: argparse.Namespace) -> int:
    """Write a party's box key pair."""
    write_box_pair(args.keys, args.party)
    print(f"X25519 key pair of {args.party} written to {args.keys / 'parties'}")
    return EXIT_OK


def run_rotate(args: argparse.Namespace) -> int:
    """Rotate one key kind in the key file (or the log key and its log)."""
    if args.kind == "log":
        return run_rotate_log(args)
    keys = args.keys
    if keys is None:
        keys = load_config(args.config).keys_dir if args.config else default_keys_dir()
    _, key_id = rotate_key_file(keys, args.kind)
    print(f"{args.kind} key {key_id} is active; send SIGHUP to every instance, then run "
          "`credgate keys reencrypt`")
    return EXIT_OK


def run_rotate_log(args: argparse.Namespace) -> int:
    """Close the audit log and make a new log key; print (and write) the new settings."""
    from gateway.rotation.log import rotate_log_key, write_settings

    try:
        config = load_config(args.config, keys_dir=args.keys, data_dir=args.data_dir,
                             database=args.database)
        done = rotate_log_key(config, origin=args.origin)
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    print(f"log {config.audit_origin} closed at size {done.closed.size}; its export and "
          f"final checkpoint are in {done.export.parent}; its public key is kept as "
          f"{done.retired_public_key.name}")
    print(f"new log key {done.new_key_id}; the new log's settings:")
    for name, value in done.settings().items():
        print(f'  {name} = "{value}"')
    if args.config:
        write_settings(args.config, done.settings())
        print(f"written into {args.config}; start every instance with it")
    else:
        print("put them in every instance's config, then start the instances")
    return EXIT_OK


def run_reencrypt(args: argparse.Namespace) -> int:
    """Re-encrypt the configured store under the active keys, with a progress line."""
    from gateway.app import key_event, open_audit_writer, open_store
    from gateway.clock import SystemClock
    from gateway.config import load_config
    from gateway.crypto.keyring import load_keyring

    config = load_config(args.config, keys_dir=args.keys, data_dir=args.data_dir,
                         database=args.database)
    keyring = load_keyring(config.keys_dir)
    clock = SystemClock()
    try:
        # Each run is in the audit log, start and end; no log, no run (fail closed).
        audit = open_audit_writer(config, keyring)
    except CredgateError as exc:
        print(f"credgate: the audit log cannot record the re-encryption: {exc.message}",
              file=sys.stderr)
        return EXIT_BROKEN
    keys_named = (f"master key {keyring.active_master_id}, blind-index key "
                  f"{keyring.active_index_id}")
    audit.append(key_event(clock.now(), action="keys.reencrypt",
                           reason=f"started under {keys_named}"))
    store = open_store(config)
    started = time.monotonic()

    def show(progress: Progress) -> None:
        rate = progress.seen / max(time.monotonic() - started, 1e-9)
        print(f"\rre-encrypting: {progress.seen} seen, {progress.rekeyed} moved, "
              f"{progress.already} already current, {progress.failed} failed "
              f"({rate:,.0f} records/s)", end="", file=sys.stderr, flush=True)

    try:
        done = reencrypt_store(store, keyring, batch=max(1, args.batch), on_progress=show)
        audit.append(key_event(clock.now(), action="keys.reencrypt", reason=(
            f"finished under {keys_named}: {done.seen} seen, {done.rekeyed} moved, "
            f"{done.already} already current, {done.failed} did not open, "
            f"{done.awaiting} staged change(s) awaiting their entry")))
    finally:
        store.close()
        audit.close()
        if keyring.token is not None:
            keyring.token.close()
    print(file=sys.stderr)
    print(f"{done.rekeyed} record(s) moved under master key {keyring.active_master_id} and "
          f"blind-index key {keyring.active_index_id}; {done.already} already were"
          + (f"; {done.failed} did not open" if done.failed else "")
          + (f"; {done.awaiting} change(s) awaiting their call's audit entry keep the keys "
             "they were sealed under: run again in a few minutes" if done.awaiting else ""))
    return EXIT_REFUSED if done.failed or done.awaiting else EXIT_OK
