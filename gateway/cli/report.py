"""`credgate report supervision`: figures for the lead department, as a table and CSV.

An operator tool: it reads the gateway's data directory (or its PostgreSQL store) and
the audit log directly, read-only in intent, and needs no keys: the figures are counted
from blind indexes and audit entries, never from ID numbers.

Exit codes: 0 written; 2 broken input (no such data directory, unreadable store or log).
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from gateway.audit.search import AuditSearch
from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.cli import credit_report
from gateway.cli.common import EXIT_BROKEN, EXIT_OK, print_json, print_table
from gateway.clock import local_date
from gateway.config import load_config
from gateway.errors import CredgateError
from gateway.supervision.figures import SupervisionReport, supervision_figures

PROVIDERS_CSV = "supervision-providers.csv"
QUERIERS_CSV = "supervision-queriers.csv"
COUNTIES_CSV = "supervision-counties.csv"
MANDATORY_CSV = "supervision-mandatory-checks.csv"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the report command group."""
    report = commands.add_parser("report", help="figures for supervision (operators)")
    actions = report.add_subparsers(dest="report_command", metavar="REPORT")
    sup = actions.add_parser(
        "supervision", help="per department: submissions, lateness, objections; per party: "
                            "queries by purpose and refusals",
        description="Count, from the record store and the audit log, how many records each "
                    "providing department submitted, how late (days from the event date to "
                    "the submission), how many objections it has open and overdue, and how "
                    "many queries and checks each party made per purpose and how many were "
                    "refused, and per county (县区) its records and its parties' queries. "
                    "Prints tables and writes three CSV files.")
    sup.add_argument("--config", type=Path, help="gateway config file (TOML, [gateway])")
    sup.add_argument("--data-dir", type=Path, help="the gateway's data directory")
    sup.add_argument("--database", help="'sqlite' or the postgresql:// store the gateway uses")
    sup.add_argument("--policies", type=Path, help="policies directory (for party names)")
    sup.add_argument("--out", type=Path, default=Path("."),
                     help="directory for the CSV files (default: the current directory)")
    sup.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                     help="the day overdue objections are counted on (default: today)")
    sup.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sup.set_defaults(handler=run_supervision)
    credit_report.register(actions)
    report.set_defaults(handler=lambda _args: _usage(report))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BROKEN


def _catalogue(policies: Path) -> Catalogue | None:
    try:
        return load_catalogue(policies)
    except CredgateError:
        return None  # names are a convenience; the figures do not need them


def run_supervision(args: argparse.Namespace) -> int:
    """Compute the figures, print them and write the CSV files."""
    from gateway.app import audit_backend, open_store

    try:
        config = load_config(args.config, data_dir=args.data_dir, database=args.database,
                             policies_dir=args.policies)
    except CredgateError as exc:
        print(f"credgate: {exc.message}", file=sys.stderr)
        return EXIT_BROKEN
    if config.database == "sqlite" and not (config.audit_db.exists()
                                            and config.records_db.exists()):
        print(f"credgate: no gateway data in {config.data_dir}", file=sys.stderr)
        return EXIT_BROKEN
    today = args.as_of or local_date(datetime.now(UTC))
    try:
        store = open_store(config)
        audit = AuditSearch(audit_backend(config))
        try:
            report = supervision_figures(store, audit, today=today,
                                         catalogue=_catalogue(config.policies_dir))
        finally:
            audit.close()
            store.close()
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(report, args.out)
    except (CredgateError, OSError) as exc:
        message = exc.message if isinstance(exc, CredgateError) else str(exc)
        print(f"credgate: {message}", file=sys.stderr)
        return EXIT_BROKEN
    if args.json:
        print_json(as_json(report))
    else:
        print_report(report, args.out)
    return EXIT_OK


def _lag(value: float | int | None) -> str:
    return "-" if value is None else f"{value:g}"


def provider_rows(report: SupervisionReport) -> list[list[str]]:
    """The per-department rows, as printed and written."""
    return [[p.provider, p.name_zh, str(p.submitted), _lag(p.median_lag_days),
             _lag(p.max_lag_days), str(p.open_objections), str(p.overdue_objections),
             str(p.repairs_granted), str(p.repairs_refused), str(p.published_late)]
            for p in report.providers]


def querier_rows(report: SupervisionReport) -> list[list[str]]:
    """The per-party rows, as printed and written."""
    return [[q.party, q.name_zh, q.purpose or "-", str(q.queries), str(q.refused),
             str(q.complaints), str(q.complaints_answered), str(q.complaints_overdue)]
            for q in report.queriers]


def mandatory_rows(report: SupervisionReport) -> list[list[str]]:
    """The 应查必查 rows: checks per department, purpose and month beside its decisions."""
    return [[m.department, m.name_zh, m.purpose, m.purpose_zh, m.month, str(m.checks),
             str(m.people_checked), "-" if m.declared is None else str(m.declared),
             "-" if m.without_check is None else str(m.without_check)]
            for m in report.mandatory_checks]


MANDATORY_HEADERS = ["department", "name_zh", "purpose", "purpose_zh", "month", "checks",
                     "people_checked", "decisions_declared", "decisions_without_check"]
PROVIDER_HEADERS = ["provider", "name_zh", "records_submitted", "median_lag_days",
                    "max_lag_days", "objections_open", "objections_overdue", "repairs_granted",
                    "repairs_refused", "published_late"]
QUERIER_HEADERS = ["party", "name_zh", "purpose", "queries", "refused", "complaints",
                   "complaints_answered", "complaints_overdue"]
COUNTY_HEADERS = ["county", "name_zh", "records_submitted", "records_in_use",
                  "objections_open", "queries", "refused"]


def county_rows(report: SupervisionReport) -> list[list[str]]:
    """The per-county rows, as printed and written."""
    return [[c.county, c.name_zh, str(c.submitted), str(c.in_use), str(c.open_objections),
             str(c.queries), str(c.refused)] for c in report.counties]


def write_csv(report: SupervisionReport, out: Path) -> None:
    """Write the CSV files (UTF-8 with a BOM, so spreadsheet programs read the Chinese)."""
    for name, headers, rows in ((PROVIDERS_CSV, PROVIDER_HEADERS, provider_rows(report)),
                                (QUERIERS_CSV, QUERIER_HEADERS, querier_rows(report)),
                                (COUNTIES_CSV, COUNTY_HEADERS, county_rows(report)),
                                (MANDATORY_CSV, MANDATORY_HEADERS, mandatory_rows(report))):
        with (out / name).open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(rows)


def print_report(report: SupervisionReport, out: Path) -> None:
    """The figures as two tables for people."""
    print(f"supervision figures as of {report.as_of.isoformat()}\n")
    print("providing departments (lag: days from the event date to the submission)\n")
    print_table(PROVIDER_HEADERS, provider_rows(report))
    print("\nquerying parties (queries and minimal-disclosure checks)\n")
    print_table(QUERIER_HEADERS, querier_rows(report))
    print("\ncounties (县区: records of the county, queries of its parties)\n")
    print_table(COUNTY_HEADERS, county_rows(report))
    print("\nmandatory checks (应查必查) per month, beside the decisions each department "
          "declared\n")
    print_table(MANDATORY_HEADERS, mandatory_rows(report))
    print(f"\nwritten: {out / PROVIDERS_CSV}, {out / QUERIERS_CSV}, {out / COUNTIES_CSV}, "
          f"{out / MANDATORY_CSV}")


def as_json(report: SupervisionReport) -> dict[str, object]:
    """The figures as plain data."""
    return {"as_of": report.as_of.isoformat(),
            "providers": [dict(zip(PROVIDER_HEADERS, r, strict=True))
                          for r in provider_rows(report)],
            "queriers": [dict(zip(QUERIER_HEADERS, r, strict=True))
                         for r in querier_rows(report)],
            "counties": [dict(zip(COUNTY_HEADERS, r, strict=True))
                         for r in county_rows(report)],
            "mandatory_checks": [dict(zip(MANDATORY_HEADERS, r, strict=True))
                                 for r in mandatory_rows(report)]}
