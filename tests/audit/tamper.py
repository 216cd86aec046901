"""Shared by the Merkle-log tests: entries, a real audit file with its tree, and an attacker.

The attacker has file access to the SQLite file and no signing key: it drops the
append-only triggers (as anyone with file access can) and rewrites rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing

from gateway.audit.checkpointer import AuditEvidence
from gateway.audit.entry import AuditEntry
from gateway.audit.log import SqliteAuditLog
from gateway.audit.merkle import leaf_hash
from gateway.clock import FixedClock
from gateway.crypto.signatures import load_signing_key, load_verify_key
from tests.support import KEYS, NOW

T0 = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
LOG_KEY: nacl.signing.SigningKey = load_signing_key(KEYS / "gateway.log.key")
LOG_PUB: nacl.signing.VerifyKey = load_verify_key(KEYS / "gateway.log.pub")
LOG_PUB_PATH = KEYS / "gateway.log.pub"


def make_entry(n: int, **overrides: object) -> AuditEntry:
    """A distinct, realistic entry per n."""
    values: dict[str, object] = {
        "time": T0 + timedelta(microseconds=n),
        "trace_id": f"{n:032x}",
        "requester": "agency.acme",
        "action": "query.subject",
        "purpose": "loan_application",
        "subject_index": f"bi1:{n:08x}",
        "categories": ("tax_rating",),
        "fields_released": ("tax_rating.grade",),
        "consent_id": f"consent-{n}",
        "policy_rule": "p, agency, tax_rating, query, loan_application",
        "policy_version": "v1",
        "decision": "allow" if n % 2 else "deny",
        "reason": "",
        "request_id": f"req-{n}",
        "record_count": n % 7,
    }
    values.update(overrides)
    return AuditEntry(**values)  # type: ignore[arg-type]


@contextmanager
def gateway_log(path: Path, *, interval: float | None = None
                ) -> Iterator[tuple[SqliteAuditLog, AuditEvidence]]:
    """The audit log wired as the gateway wires it: tree hook, checkpoints, clean close."""
    evidence = AuditEvidence.open(path, LOG_KEY, clock=FixedClock(NOW), interval=interval)
    log = SqliteAuditLog(path, busy_timeout_ms=2000, on_commit=evidence.tree.on_commit)
    evidence.start()
    try:
        yield log, evidence
    finally:
        log.close()
        evidence.close()


def build_log(path: Path, sizes: list[int]) -> None:
    """Append entries in batches, signing a checkpoint after each batch; sizes are cumulative."""
    with gateway_log(path) as (log, evidence):
        done = 0
        for size in sizes:
            log.append_many(make_entry(n) for n in range(done, size))
            evidence.checkpointer.checkpoint_now()
            done = size


@contextmanager
def attacker(path: Path) -> Iterator[sqlite3.Connection]:
    """Direct write access to the file with the append-only triggers dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_next_seq",
                 "audit_leaves_no_update", "audit_leaves_no_delete", "audit_leaves_next_idx",
                 "tlog_entries_no_update", "tlog_entries_no_delete", "tlog_entries_next_seq"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield conn
    finally:
        conn.close()


def _table(conn: sqlite3.Connection) -> str:
    """The entries table: the shared log's (a gateway's file) or the per-instance log's."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tlog_entries'").fetchone()
    return "audit_log" if row is None else "tlog_entries"


def change_entry(conn: sqlite3.Connection, seq: int) -> None:
    """Replace one entry with another valid canonical entry (a lie that parses)."""
    forged = make_entry(seq - 1, decision="deny", reason="forged").canonical_bytes()
    conn.execute(f"UPDATE {_table(conn)} SET entry = ? WHERE seq = ?", (forged, seq))


def delete_entry(conn: sqlite3.Connection, seq: int) -> None:
    """Remove one entry, leaving a gap."""
    conn.execute(f"DELETE FROM {_table(conn)} WHERE seq = ?", (seq,))


def swap_entries(conn: sqlite3.Connection, a: int, b: int) -> None:
    """Exchange the bytes of two entries."""
    t = _table(conn)
    ea = conn.execute(f"SELECT entry FROM {t} WHERE seq = ?", (a,)).fetchone()[0]
    eb = conn.execute(f"SELECT entry FROM {t} WHERE seq = ?", (b,)).fetchone()[0]
    conn.execute(f"UPDATE {t} SET entry = ? WHERE seq = ?", (eb, a))
    conn.execute(f"UPDATE {t} SET entry = ? WHERE seq = ?", (ea, b))


def insert_entry(conn: sqlite3.Connection, seq: int) -> None:
    """Insert a forged entry at seq, renumbering the later ones (no gap left)."""
    t = _table(conn)
    conn.execute(f"UPDATE {t} SET seq = -(seq + 1) WHERE seq >= ?", (seq,))
    conn.execute(f"UPDATE {t} SET seq = -seq WHERE seq < 0")
    forged = make_entry(10**6 + seq, reason="inserted").canonical_bytes()
    if t == "audit_log":
        conn.execute("INSERT INTO audit_log (seq, entry) VALUES (?, ?)", (seq, forged))
    else:
        conn.execute("INSERT INTO tlog_entries (seq, entry, leaf) VALUES (?, ?, ?)",
                     (seq, forged, leaf_hash(forged)))


def truncate_log(conn: sqlite3.Connection, keep: int) -> None:
    """Drop every entry after seq ``keep``."""
    conn.execute(f"DELETE FROM {_table(conn)} WHERE seq > ?", (keep,))


#: Each tampering, at seq 7 of a log that holds at least 12 entries, and the first seq
#: that differs afterwards.
TAMPERINGS: dict[str, tuple[Callable[[sqlite3.Connection], None], int]] = {
    "entry-changed": (lambda c: change_entry(c, 7), 7),
    "entry-deleted": (lambda c: delete_entry(c, 7), 7),
    "entries-swapped": (lambda c: swap_entries(c, 7, 11), 7),
    "entry-inserted": (lambda c: insert_entry(c, 7), 7),
    "log-truncated": (lambda c: truncate_log(c, 6), 7),
}
