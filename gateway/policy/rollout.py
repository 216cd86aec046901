"""Safe policy rollout: validate, test, diff, (approve), then swap atomically.

A proposed policy is a bundle of the files of a policy folder. It is written to its
own version directory, validated (`credgate policy validate`) and its decision tests
run (`credgate policy test`); a bundle that fails either is recorded as rejected and
the running policy stays; so is one that fails the live version's decision tests.
Otherwise its effective access diff against the running policy is computed and kept,
and it becomes active at once or, under the two-person rule (or when it removes or
changes a live decision test), once a second security officer approves it. Activation
builds a complete new PolicyState and swaps one reference: a request in flight sees the
old state or the new one, never a mix. Every version is kept with its author, time, hash and diff.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.clock import Clock, rfc3339
from gateway.crypto.keyring import Keyring
from gateway.disclosure.profiles import MaskingProfiles
from gateway.errors import ConfigurationError, FailedPrecondition, InvalidArgument
from gateway.policy.diff import policy_diff
from gateway.policy.engine import PolicyEngine
from gateway.policy.live_tests import changed_live_cases, live_test_problems
from gateway.policy.testing import run_policy_tests
from gateway.policy.validate import validate_policy
from gateway.records.catalogue import Catalogue, load_catalogue

# The files a policy bundle may hold (anything else is refused, so a bundle cannot
# write outside its version directory).
_BUNDLE_FILE = re.compile(r"^(?:[a-z_]+\.(?:conf|csv|toml)|tests/[a-z0-9_]+\.toml)$")
REQUIRED_FILES = ("model.conf", "policy.csv", "catalogue.toml", "parties.toml",
                  "purposes.toml", "masking.toml")
MAX_BUNDLE_BYTES = 7 * 1024 * 1024  # a bundle must fit in one gRPC message (8 MiB)

ACTIVE, PENDING, REJECTED, SUPERSEDED = "active", "pending", "rejected", "superseded"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS policy_versions (
    id          INTEGER PRIMARY KEY,
    version     TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    author      TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    status      TEXT NOT NULL,
    approver    TEXT NOT NULL DEFAULT '',
    decided_at  TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    diff        TEXT NOT NULL DEFAULT '{}'
);
"""


@dataclass(frozen=True)
class PolicyState:
    """One complete, loaded policy: catalogue, engine and masking profiles of one folder."""

    catalogue: Catalogue
    engine: PolicyEngine
    profiles: MaskingProfiles
    directory: Path

    @property
    def version(self) -> str:
        """The engine's version hash (what audit entries name)."""
        return self.engine.version


def load_state(directory: Path, keyring: Keyring | None = None) -> PolicyState:
    """Load catalogue, policy and masking profiles from a folder; raises ConfigurationError."""
    catalogue = load_catalogue(directory)
    return PolicyState(catalogue=catalogue, engine=PolicyEngine.load(directory, catalogue),
                       profiles=MaskingProfiles.load(directory, keyring=keyring),
                       directory=directory)


@dataclass(frozen=True)
class PolicyVersionRecord:
    """A proposed version as kept: who, when, what it changes, what became of it."""

    id: int
    version: str
    bundle_hash: str
    author: str
    proposed_at: str
    status: str
    approver: str
    decided_at: str
    reason: str
    diff: Mapping[str, object]
    comment: str = ""  # the deciding officer's comment


def bundle_hash(files: Mapping[str, bytes]) -> str:
    """A hash over the bundle's file names and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "big"))
        digest.update(files[name])
    return digest.hexdigest()


def snapshot_bundle(versions_dir: Path, directory: Path) -> Path:
    """A copy of a policy folder in ``versions_dir/<bundle hash>`` that nobody edits.

    The live policy is loaded from such a copy, so that a proposal is diffed against
    what really serves, not against files edited in place since (a SIGHUP reload).
    """
    files = read_bundle(directory)
    return _write_bundle(Path(versions_dir) / bundle_hash(files), files)


def _write_bundle(directory: Path, files: Mapping[str, bytes]) -> Path:
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory


def read_bundle(directory: Path) -> dict[str, bytes]:
    """The policy files of a folder as a bundle."""
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and _BUNDLE_FILE.match(name):
            files[name] = path.read_bytes()
    return files


class PolicyRollout:
    """Proposals, approvals and the version history; swaps the live policy via `apply`."""

    def __init__(self, *, versions_dir: Path, clock: Clock, two_person: bool,
                 current: Callable[[], PolicyState],
                 apply: Callable[[PolicyState], None],
                 load: Callable[[Path], PolicyState] = load_state) -> None:
        self._dir = Path(versions_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._two_person = two_person
        self._current = current
        self._apply = apply
        self._load = load
        self._lock = threading.Lock()  # one proposal or approval at a time
        self._db = sqlite3.connect(self._dir / "versions.db", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(policy_versions)")}
        if "comment" not in columns:  # a versions database from before comments
            self._db.execute("ALTER TABLE policy_versions "
                             "ADD COLUMN comment TEXT NOT NULL DEFAULT ''")

    @property
    def two_person(self) -> bool:
        """Whether a change waits for a second security officer."""
        return self._two_person

    def propose(self, author: str, files: Mapping[str, bytes]) -> PolicyVersionRecord:
        """Check a bundle and activate it (or leave it pending); never fails open.

        Raises InvalidArgument for a malformed bundle. A bundle that loads but fails
        validation or its tests is recorded as rejected and returned, and the running
        policy stays.
        """
        self._check_bundle(files)
        digest = bundle_hash(files)
        with self._lock:
            directory = self._materialise(digest, files)
            now = rfc3339(self._clock.now())
            live = self._current().directory
            problems = self._problems(directory) or live_test_problems(live, directory)
            if problems:
                return self._record(digest, digest, author, now, REJECTED, reason=problems)
            state = self._load(directory)
            diff = policy_diff(live, directory).to_json()
            # The live bundle (its folder is named by its hash): what an approval must
            # still find live, masking profiles and test cases included.
            diff["old_bundle"] = live.name
            if (live / "masking.toml").read_bytes() != files.get("masking.toml"):
                diff["notes"] = [*diff["notes"], "masking profiles changed (masking.toml)"]
            # Weakening the live tests is never one officer's decision (live_tests.py).
            changed = changed_live_cases(read_bundle(live), files)
            if changed:
                diff["tests_changed"] = changed
                diff["notes"] = [*diff["notes"], f"removes or changes {len(changed)} live "
                                 "decision test case(s): needs a second security officer"]
            if self._two_person or changed:
                return self._record(state.version, digest, author, now, PENDING, diff=diff)
            self._activate(state)
            return self._record(state.version, digest, author, now, ACTIVE, approver=author,
                                decided_at=now, diff=diff)

    def approve(self, approver: str, version_id: int, comment: str = "") -> PolicyVersionRecord:
        """Second-person approval of a pending version; the approver must not be its author."""
        with self._lock:
            record = self._get(version_id)
            if record.status != PENDING:
                raise FailedPrecondition(f"version {version_id} is {record.status}, not pending")
            if record.author == approver:
                raise FailedPrecondition("the author of a change cannot approve it",
                                         reason="same_person")
            state = self._load(self._dir / record.bundle_hash)
            if state.version != record.version:
                raise FailedPrecondition("the stored bundle no longer matches its version")
            proposed_over = record.diff.get("old_bundle")
            if proposed_over != self._current().directory.name:
                # The approver was shown the change against another live policy: approving
                # it now could silently undo whatever went live in between.
                raise FailedPrecondition("another policy went live since this proposal; "
                                         "propose it again to see its current effect",
                                         reason="stale_proposal")
            self._activate(state)
            now = rfc3339(self._clock.now())
            self._db.execute(
                "UPDATE policy_versions SET status = ?, approver = ?, decided_at = ?, "
                "comment = ? WHERE id = ?", (ACTIVE, approver, now, comment, version_id))
            self._supersede(version_id)
            return self._get(version_id)

    def reject(self, officer: str, version_id: int, comment: str) -> PolicyVersionRecord:
        """Turn a pending version down (any security officer, its author included)."""
        with self._lock:
            record = self._get(version_id)
            if record.status != PENDING:
                raise FailedPrecondition(f"version {version_id} is {record.status}, not pending")
            self._db.execute(
                "UPDATE policy_versions SET status = ?, decided_at = ?, reason = ?, "
                "comment = ? WHERE id = ?",
                (REJECTED, rfc3339(self._clock.now()), f"rejected by {officer}", comment,
                 version_id))
            return self._get(version_id)

    def versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        """The newest versions first."""
        rows = self._db.execute(
            "SELECT * FROM policy_versions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._row(r) for r in rows]

    def close(self) -> None:
        """Close the version database."""
        self._db.close()

    # -- internals -------------------------------------------------------------------

    def _check_bundle(self, files: Mapping[str, bytes]) -> None:
        if sum(len(v) for v in files.values()) > MAX_BUNDLE_BYTES:
            raise InvalidArgument("the policy bundle is too large")
        for name in files:
            if not _BUNDLE_FILE.match(name):
                raise InvalidArgument(f"the policy bundle may not hold {name[:80]!r}")
        missing = [f for f in REQUIRED_FILES if f not in files]
        if missing:
            raise InvalidArgument(f"the policy bundle lacks {', '.join(missing)}")

    def _materialise(self, digest: str, files: Mapping[str, bytes]) -> Path:
        return _write_bundle(self._dir / digest, files)

    def _problems(self, directory: Path) -> str:
        """Why a bundle may not go live ("" when it may)."""
        try:
            errors = [f for f in validate_policy(directory) if f.severity == "error"]
            if errors:
                return "validation failed: " + "; ".join(str(f) for f in errors[:10])
            report = run_policy_tests(directory)
        except ConfigurationError as exc:
            return f"cannot load: {exc.message}"
        if not report.ok:
            failed = [r for r in report.results if not r.passed]
            names = ", ".join(r.case.id for r in failed[:10]) or "no test cases"
            return f"decision tests failed ({report.summary}): {names}"
        return ""

    def _activate(self, state: PolicyState) -> None:
        self._apply(state)

    def _supersede(self, active_id: int) -> None:
        self._db.execute("UPDATE policy_versions SET status = ? WHERE status = ? AND id <> ?",
                         (SUPERSEDED, ACTIVE, active_id))

    def _record(self, version: str, digest: str, author: str, now: str, status: str, *,
                approver: str = "", decided_at: str = "", reason: str = "",
                diff: Mapping[str, object] | None = None) -> PolicyVersionRecord:
        cur = self._db.execute(
            "INSERT INTO policy_versions (version, bundle_hash, author, proposed_at, status, "
            "approver, decided_at, reason, diff) VALUES (?,?,?,?,?,?,?,?,?)",
            (version, digest, author, now, status, approver,
             decided_at or (now if status == REJECTED else ""), reason,
             json.dumps(diff or {}, ensure_ascii=False, sort_keys=True)))
        new_id = int(cur.lastrowid or 0)
        if status == ACTIVE:
            self._supersede(new_id)
        return self._get(new_id)

    def _get(self, version_id: int) -> PolicyVersionRecord:
        row = self._db.execute("SELECT * FROM policy_versions WHERE id = ?",
                               (version_id,)).fetchone()
        if row is None:
            raise InvalidArgument(f"no policy version {version_id}")
        return self._row(row)

    @staticmethod
    def _row(row: tuple) -> PolicyVersionRecord:
        return PolicyVersionRecord(
            id=row[0], version=row[1], bundle_hash=row[2], author=row[3], proposed_at=row[4],
            status=row[5], approver=row[6], decided_at=row[7], reason=row[8],
            diff=json.loads(row[9]), comment=row[10] if len(row) > 10 else "")
