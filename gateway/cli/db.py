"""`credgate db migrate`: create or upgrade the shared schema as its owner, and let the
gateways' own database role use it without any right to change it.

The gateway migrates its schema on start when its role may, and runs no DDL when the
schema is current. In production the instances log in as a role that may only read and
write rows: it cannot drop or disable the triggers that keep the audit log append-only,
nor alter a table. The schema's owner runs this command once per upgrade, before the
instances of the new version start.

Exit codes: 0 migrated (and granted); 2 broken input or set-up (unreachable database, a
role that does not exist, a back end without roles).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    example_epilog,
    example_formatter,
    print_json,
)
from gateway.config import load_config
from gateway.errors import CredgateError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the db command group."""
    db = commands.add_parser("db", help="the shared database's schema (operators)")
    actions = db.add_subparsers(dest="db_command", metavar="DB")
    migrate = actions.add_parser(
        "migrate", help="create or upgrade the schema as its owner; grant the gateways' role",
        description="Create or upgrade the record store and audit log schema, connected as "
                    "the schema's owner, and with --grant let the role the gateways log in "
                    "as read and write rows (audit entries and checkpoints: append only) "
                    "without any right to change the schema.",
        epilog=example_epilog("credgate db migrate --database "
                              "postgresql://owner@db.example/credgate --grant credgate_app"),
        formatter_class=example_formatter())
    migrate.add_argument("--config", type=Path, help="gateway config file (TOML, [gateway])")
    migrate.add_argument("--database", help="postgresql:// URL of the schema's owner "
                                            "(or 'sqlite' with --data-dir)")
    migrate.add_argument("--data-dir", type=Path, help="the data directory (SQLite)")
    migrate.add_argument("--grant", metavar="ROLE",
                         help="the database role the gateway instances log in as")
    migrate.add_argument("--json", action="store_true", help="print JSON")
    migrate.set_defaults(handler=run_migrate)
    db.set_defaults(handler=lambda _args: _usage(db))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BROKEN


def run_migrate(args: argparse.Namespace) -> int:
    """Migrate the store and the audit log schema; grant the role when asked."""
    from gateway.app import audit_backend, monitor_store, open_store
    from gateway.audit.backend import PostgresBackend
    from gateway.records.migrations import LATEST
    from gateway.records.postgres_store import PostgresStore

    try:
        config = load_config(args.config, data_dir=args.data_dir, database=args.database)
        if args.grant and config.database == "sqlite":
            print("credgate: --grant needs PostgreSQL: an embedded SQLite file has no "
                  "roles (its file permissions decide who may write it)", file=sys.stderr)
            return EXIT_BROKEN
        store = open_store(config)  # migrates
        try:
            backend = audit_backend(config)
            backend.create_schema()
            monitor = monitor_store(config, backend)  # the alert monitor's tables
            try:
                if args.grant:
                    assert isinstance(store, PostgresStore)
                    assert isinstance(backend, PostgresBackend)
                    store.database.grant_to(args.grant)
                    backend.grant_to(args.grant)
                    monitor.grant_to(args.grant)
            finally:
                monitor.close()
        finally:
            store.close()
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        if exc.detail:
            print(f"  detail: {exc.detail}", file=sys.stderr)
        return EXIT_BROKEN
    where = "SQLite files" if config.database == "sqlite" else \
        f"schema {config.database_schema}"
    if args.json:
        print_json({"schema_version": LATEST, "where": where, "granted_to": args.grant})
    else:
        print(f"{where}: at version {LATEST}")
        if args.grant:
            print(f"role {args.grant}: may read and write rows (audit entries and "
                  "checkpoints: append only); no right to change the schema")
    return EXIT_OK
