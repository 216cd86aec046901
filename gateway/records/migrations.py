"""Versioned schema migrations of the record store, written once for SQLite and PostgreSQL.

The DDL is one text per migration. Where the two back ends spell a type differently it
names a slot filled by the dialect (:data:`SQLITE_TYPES`, :data:`POSTGRES_TYPES`):

- ``{blob}`` bytes; ``{empty_blob}`` the empty-bytes literal;
- ``{date}`` a calendar date (TEXT in ISO form on SQLite, DATE on PostgreSQL);
- ``{ordered}`` text that takes part in ordering: PostgreSQL compares it in the "C"
  collation, so the order matches SQLite's binary comparison whatever the locale;
- ``{serial_key}`` an auto-numbered primary key; ``{bigint}`` a 64-bit integer.

The table ``schema_version`` holds one row per applied migration. Migration 1 is the
schema as it stood before versioning, written so that it also brings a database made
by any earlier gateway to that state (it adds the lifecycle columns older files lack):
existing data directories and schemas open unchanged. A database whose version is
newer than this gateway knows is refused rather than written with an older idea of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import StoreUnavailable

SQLITE_TYPES = {
    "blob": "BLOB", "empty_blob": "x''", "date": "TEXT", "ordered": "TEXT",
    "serial_key": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER",
}
POSTGRES_TYPES = {
    "blob": "BYTEA", "empty_blob": "''", "date": "DATE", "ordered": 'TEXT COLLATE "C"',
    "serial_key": "BIGSERIAL PRIMARY KEY", "bigint": "BIGINT",
}


class MigrationSql(Protocol):
    """The statements a migration needs, inside the migration's transaction."""

    def run(self, text: str, params: Sequence[Any] = ()) -> int: ...

    def one(self, text: str, params: Sequence[Any] = ()) -> Sequence[Any] | None: ...

    def column_names(self, table: str) -> set[str]: ...


@dataclass(frozen=True)
class Migration:
    """One step of the schema: DDL statements, then an optional procedural part."""

    version: int
    name: str
    statements: tuple[str, ...]
    upgrade: Callable[[MigrationSql, dict[str, str]], None] | None = None


VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""

#: Columns the record lifecycle added to `records` (older databases lack them).
RECORD_LIFECYCLE_COLUMNS = (
    ("domain", "TEXT NOT NULL DEFAULT ''"),
    ("occupation", "TEXT NOT NULL DEFAULT ''"),
    ("state", "TEXT NOT NULL DEFAULT 'active'"),
    ("state_at", "TEXT"),
    ("state_ref", "TEXT NOT NULL DEFAULT ''"),
    ("replaces", "TEXT NOT NULL DEFAULT ''"),
)

_RECORDS_AND_CONSENTS = (
    """CREATE TABLE IF NOT EXISTS records (
    record_id         {ordered} PRIMARY KEY,
    provider          TEXT NOT NULL,
    source_record_id  TEXT NOT NULL,
    subject_index     TEXT NOT NULL,
    subject_ct        {blob} NOT NULL,
    category          TEXT NOT NULL,
    severity          TEXT NOT NULL,
    event_date        {date} NOT NULL,
    display_end       {date},
    submitted_at      TEXT NOT NULL,
    submission_digest TEXT NOT NULL,
    fields            TEXT NOT NULL,
    UNIQUE (provider, source_record_id)
)""",
    "CREATE INDEX IF NOT EXISTS records_by_subject ON records (subject_index, category)",
    """CREATE TABLE IF NOT EXISTS consents (
    consent_id    TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    grantee       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    not_before    TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    max_uses      {bigint} NOT NULL,
    artefact_ct   {blob} NOT NULL,
    signature     {blob} NOT NULL,
    issued_at     TEXT NOT NULL,
    uses          {bigint} NOT NULL DEFAULT 0,
    revoked_at    TEXT,
    revoke_reason TEXT NOT NULL DEFAULT ''
)""",
)

_LIFECYCLE = (
    """CREATE TABLE IF NOT EXISTS objections (
    objection_id  {ordered} PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    filed_at      {ordered} NOT NULL,
    due_date      {ordered} NOT NULL,
    reason_ct     {blob} NOT NULL,
    status        TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT '',
    answered_at   TEXT,
    answered_by   TEXT NOT NULL DEFAULT '',
    answer_ct     {blob} NOT NULL DEFAULT {empty_blob},
    new_record_id TEXT NOT NULL DEFAULT ''
)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS objections_one_open ON objections (record_id) "
    "WHERE status = 'open'",
    "CREATE INDEX IF NOT EXISTS objections_by_provider ON objections (provider, status)",
    "CREATE INDEX IF NOT EXISTS objections_by_subject ON objections (subject_index)",
    """CREATE TABLE IF NOT EXISTS repairs (
    repair_id     {ordered} PRIMARY KEY,
    record_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    approver      TEXT NOT NULL,
    category      TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    applied_at    {ordered} NOT NULL,
    statement_ct  {blob} NOT NULL,
    status        TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    TEXT NOT NULL DEFAULT '',
    decision_ct   {blob} NOT NULL DEFAULT {empty_blob}
)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS repairs_one_pending ON repairs (record_id) "
    "WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS repairs_by_approver ON repairs (approver, status)",
    "CREATE INDEX IF NOT EXISTS repairs_by_subject ON repairs (subject_index)",
    """CREATE TABLE IF NOT EXISTS blacklist (
    entry_id    {serial_key},
    party       TEXT NOT NULL,
    listed_at   TEXT NOT NULL,
    listed_by   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    lifted_at   TEXT,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS blacklist_one_active ON blacklist (party) "
    "WHERE lifted_at IS NULL",
)


def _add_lifecycle_columns(sql: MigrationSql, types: dict[str, str]) -> None:
    """Add the lifecycle columns to a records table made before they existed.

    Only missing columns are added: on PostgreSQL ALTER TABLE takes an exclusive lock
    even when the column is there, which would stall the other instances' queries.
    """
    present = sql.column_names("records")
    for name, decl in RECORD_LIFECYCLE_COLUMNS:
        if name not in present:
            sql.run(f"ALTER TABLE records ADD COLUMN {name} {decl}")


def _baseline_then_lifecycle(sql: MigrationSql, types: dict[str, str]) -> None:
    _add_lifecycle_columns(sql, types)
    for text in _LIFECYCLE:
        sql.run(text.format(**types))


#: Digests of verified signed requests, shared by every instance on the database
#: (gateway.identify.request_signing); `seen_at` in Unix seconds, pruned after twice the window.
_REPLAY_MEMORY = (
    """CREATE TABLE IF NOT EXISTS request_digests (
    digest  TEXT PRIMARY KEY,
    seen_at {bigint} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS request_digests_by_time ON request_digests (seen_at)",
)

#: Which request used a consent, until its outcome is known (gateway.consent.uses): the
#: row is deleted when the call's allow entry commits (the use stays spent) or when the
#: use is given back. `used_at` in Unix seconds; `used_by` names the instance.
_CONSENT_USES = (
    """CREATE TABLE IF NOT EXISTS consent_uses (
    request_id TEXT PRIMARY KEY,
    consent_id TEXT NOT NULL,
    used_by    TEXT NOT NULL,
    used_at    {bigint} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS consent_uses_by_instance ON consent_uses (used_by, used_at)",
)

#: Policy versions shared by every instance (gateway.policy.rollout): the bundles' files
#: by hash (JSON of base64 contents), every proposal, and the one head row naming the
#: version in force (version 0 and "" before any rollout).
_POLICY_VERSIONS = (
    """CREATE TABLE IF NOT EXISTS policy_bundles (
    bundle_hash TEXT PRIMARY KEY,
    files       TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS policy_versions (
    id          {serial_key},
    version     TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    author      TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    status      TEXT NOT NULL,
    approver    TEXT NOT NULL DEFAULT '',
    decided_at  TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    diff        TEXT NOT NULL DEFAULT '{{}}',
    comment     TEXT NOT NULL DEFAULT ''
)""",
    """CREATE TABLE IF NOT EXISTS policy_head (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    version_id  {bigint} NOT NULL,
    bundle_hash TEXT NOT NULL,
    changed_at  TEXT NOT NULL
)""",
    "INSERT INTO policy_head (one, version_id, bundle_hash, changed_at) VALUES (1, 0, '', '') "
    "ON CONFLICT (one) DO NOTHING",
)

# A record belongs to a county or ("") to the whole city; supervision counts by county.
_RECORD_COUNTY = ("CREATE INDEX IF NOT EXISTS records_by_county ON records (county)",)


def _add_county_column(sql: MigrationSql, types: dict[str, str]) -> None:
    """Add records.county unless there (a file whose schema_version was lost has it)."""
    if "county" not in sql.column_names("records"):
        sql.run("ALTER TABLE records ADD COLUMN county TEXT NOT NULL DEFAULT ''")
    for text in _RECORD_COUNTY:
        sql.run(text.format(**types))


#: Quota counters shared by every instance (gateway.policy.quotas, gateway.records.sql_quotas):
#: what each window (a clock minute, a city day) has granted, and the burst buckets in
#: thousandths of a token. Buckets name a rule, a party, a purpose, never a person.
_QUOTAS = (
    """CREATE TABLE IF NOT EXISTS quota_counters (
    bucket     TEXT PRIMARY KEY,
    used       {bigint} NOT NULL,
    expires_at {bigint} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS quota_counters_by_expiry ON quota_counters (expires_at)",
    """CREATE TABLE IF NOT EXISTS quota_buckets (
    bucket       TEXT PRIMARY KEY,
    milli_tokens {bigint} NOT NULL,
    at_ms        {bigint} NOT NULL
)""",
)

#: Columns a record received from a peer platform carries (gateway/peers/receive.py):
#: the platform it came from, the party that provided it there, and the disputed mark
#: its origin announced ("" and 0 for a record submitted here).
RECORD_ORIGIN_COLUMNS = (
    ("origin", "TEXT NOT NULL DEFAULT ''"),
    ("origin_provider", "TEXT NOT NULL DEFAULT ''"),
    ("origin_disputed", "INTEGER NOT NULL DEFAULT 0"),
)

#: The durable outbox to peers (gateway/peers/outbox.py): one row per change of a record
#: that sharing.toml sends to a peer, written in the transaction of the change and deleted
#: when the peer acknowledged it; a lease per peer so that one instance pushes at a time;
#: the records whose end of display was announced; and, at a receiver, the last change
#: applied per (origin, record), so a resent change is applied once.
_PEERS = (
    """CREATE TABLE IF NOT EXISTS peer_outbox (
    seq       {serial_key},
    peer      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    change    TEXT NOT NULL,
    queued_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS peer_outbox_by_peer ON peer_outbox (peer, seq)",
    """CREATE TABLE IF NOT EXISTS peer_leases (
    peer    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until_s {bigint} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS peer_display_ended (
    record_id TEXT PRIMARY KEY,
    queued_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS peer_received (
    origin    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    last_seq  {bigint} NOT NULL,
    PRIMARY KEY (origin, record_id)
)""",
    "CREATE INDEX IF NOT EXISTS records_by_display_end ON records (display_end)",
)


#: Changes staged before their call's allow entry (gateway.records.changes): one per
#: target, found by request for the apply and by time for the sweeper.
_PENDING_CHANGES = (
    """CREATE TABLE IF NOT EXISTS pending_changes (
    target     TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    since      {ordered} NOT NULL,
    kind       TEXT NOT NULL,
    args       TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS pending_changes_by_request ON pending_changes (request_id)",
    "CREATE INDEX IF NOT EXISTS pending_changes_by_time ON pending_changes (since)",
)


def _add_origin_columns(sql: MigrationSql, types: dict[str, str]) -> None:
    """Add the origin columns to records (only those missing, as for the lifecycle)."""
    present = sql.column_names("records")
    for name, decl in RECORD_ORIGIN_COLUMNS:
        if name not in present:
            sql.run(f"ALTER TABLE records ADD COLUMN {name} {decl}")


def _add_forwarding_columns(sql: MigrationSql, types: dict[str, str]) -> None:
    """objections.forwarded_by (at the origin: the platform that forwarded it) and
    objections.origin_objection_id (at the receiver: the origin's objection), unless
    there (a file whose schema_version was lost has them)."""
    present = sql.column_names("objections")
    for name in ("forwarded_by", "origin_objection_id"):
        if name not in present:
            sql.run(f"ALTER TABLE objections ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, consents and the record lifecycle", _RECORDS_AND_CONSENTS,
              upgrade=_baseline_then_lifecycle),
    Migration(2, "shared replay memory", _REPLAY_MEMORY),
    Migration(3, "consent uses by request", _CONSENT_USES),
    Migration(4, "policy versions", _POLICY_VERSIONS),
    Migration(5, "the county (县区) of each record", (), upgrade=_add_county_column),
    Migration(6, "quota counters", _QUOTAS),
    Migration(7, "peer platforms: record origins, outbox, received changes", _PEERS,
              upgrade=_add_origin_columns),
    Migration(8, "objections forwarded between platforms", (),
              upgrade=_add_forwarding_columns),
    Migration(9, "changes awaiting their call's allow entry", _PENDING_CHANGES),
)

#: The schema version this gateway writes.
LATEST = MIGRATIONS[-1].version


def schema_version(sql: MigrationSql) -> int:
    """The version a database is at (0 when it has no schema_version table)."""
    if not sql.column_names("schema_version"):
        return 0
    row = sql.one("SELECT max(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(sql: MigrationSql, types: dict[str, str], *, now: str,
            migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations the database lacks, in order; returns the version reached.

    The caller holds the schema lock (one transaction): instances starting together
    migrate one after the other. Raises StoreUnavailable for a database that is newer
    than this gateway.
    """
    sql.run(VERSION_TABLE)
    current = schema_version(sql)
    latest = migrations[-1].version
    if current > latest:
        raise StoreUnavailable(
            "record store unavailable",
            detail=f"the database is at schema version {current}, newer than this "
                   f"gateway's {latest}: upgrade the gateway before it uses this database")
    for step in migrations:
        if step.version <= current:
            continue
        for text in step.statements:
            sql.run(text.format(**types))
        if step.upgrade is not None:
            step.upgrade(sql, types)
        sql.run("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, now))
        current = step.version
    return current
