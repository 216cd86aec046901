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

Versions, proposals and approvals live in the record store every instance shares
(gateway.records.sql_policy), with the bundles' files. A rollout at any instance moves
the store's head; every other instance follows it (PolicyRollout.follow): on a notice
(PostgreSQL LISTEN/NOTIFY) and at least once a second, it loads the version in force
from the store and swaps it in the same way.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.clock import Clock, rfc3339
from gateway.crypto.keyring import Keyring
from gateway.errors import (
    ConfigurationError,
    CredgateError,
    FailedPrecondition,
    InvalidArgument,
)
from gateway.monitoring.rules import NO_RULES, MonitoringRules, load_monitoring
from gateway.policy.decide import PolicyEngine
from gateway.policy.diff import policy_diff
from gateway.policy.limits import NO_LIMITS, Limits, load_limits
from gateway.policy.live_tests import changed_live_cases, live_test_problems
from gateway.policy.testing import run_policy_tests
from gateway.policy.validate import validate_policy
from gateway.protect.profiles import MaskingProfiles
from gateway.records.changes import Change, approve_policy, propose_policy, reject_policy
from gateway.records.sql_policy import (
    ACTIVE,
    PENDING,
    REJECTED,
    SUPERSEDED,
    PolicyVersionRecord,
)
from gateway.records.store import RecordStore

__all__ = ["ACTIVE", "PENDING", "REJECTED", "SUPERSEDED", "PolicyRollout", "PolicyState",
           "PolicyVersionRecord", "bundle_from_store", "bundle_hash", "load_state",
           "read_bundle", "snapshot_bundle"]

# The files a policy bundle may hold (anything else is refused, so a bundle cannot
# write outside its version directory).
_BUNDLE_FILE = re.compile(r"^(?:[a-z_]+\.(?:conf|csv|toml)|tests/[a-z0-9_]+\.toml)$")
REQUIRED_FILES = ("model.conf", "policy.csv", "catalogue.toml", "parties.toml",
                  "purposes.toml", "masking.toml")
MAX_BUNDLE_BYTES = 7 * 1024 * 1024  # a bundle must fit in one gRPC message (8 MiB)

#: How often (seconds) an instance checks which version is in force, at least.
FOLLOW_EVERY = 1.0
#: Deepest nesting a policy TOML file may have (the shipped files use 4).
MAX_TOML_DEPTH = 16

log = logging.getLogger("credgate.policy")


@dataclass(frozen=True)
class PolicyState:
    """One complete, loaded policy: catalogue, engine and masking profiles of one folder."""

    catalogue: Catalogue
    engine: PolicyEngine
    profiles: MaskingProfiles
    directory: Path
    #: The quotas of limits.toml (none when the folder has no such file).
    limits: Limits = NO_LIMITS
    #: The anomaly rules of monitoring.toml (gateway.monitoring), run over the audit log.
    monitoring: MonitoringRules = NO_RULES

    @property
    def version(self) -> str:
        """The engine's version hash (what audit entries name)."""
        return self.engine.version


def load_state(directory: Path, keyring: Keyring | None = None) -> PolicyState:
    """Load catalogue, policy and masking profiles from a folder; raises ConfigurationError."""
    catalogue = load_catalogue(directory)
    return PolicyState(catalogue=catalogue, engine=PolicyEngine.load(directory, catalogue),
                       profiles=MaskingProfiles.load(directory, keyring=keyring),
                       directory=directory, limits=load_limits(directory, catalogue),
                       monitoring=load_monitoring(directory, catalogue))


def _too_deep(data: bytes) -> bool:
    """Whether a TOML file nests deeper than MAX_TOML_DEPTH (or too deep to parse at all).

    A file that is not UTF-8 or not TOML is left to validation, which reports it.
    """
    try:
        doc: object = tomllib.loads(data.decode("utf-8"))
    except RecursionError:
        return True
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_TOML_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ())
        stack.extend((child, depth + 1) for child in children)
    return False


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


def bundle_from_store(store: RecordStore, versions_dir: Path, digest: str) -> Path:
    """The folder of a bundle kept in the store, written to ``versions_dir/<hash>``.

    Raises ConfigurationError when the store lacks it or its files do not hash to it.
    """
    directory = Path(versions_dir) / digest
    if directory.is_dir() and bundle_hash(read_bundle(directory)) == digest:
        return directory
    files = store.policy_bundle(digest)
    if files is None or bundle_hash(files) != digest:
        raise ConfigurationError("the policy version in force is missing from the store "
                                 "or does not match its hash",
                                 detail=f"bundle {digest[:12]}")
    return _write_bundle(directory, files)


class PolicyRollout:
    """Proposals, approvals and the version history; swaps the live policy via `apply`."""

    def __init__(self, *, store: RecordStore, versions_dir: Path, clock: Clock,
                 two_person: bool, current: Callable[[], PolicyState],
                 apply: Callable[[PolicyState], None],
                 load: Callable[[Path], PolicyState] = load_state) -> None:
        self._dir = Path(versions_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._two_person = two_person
        self._current = current
        self._apply = apply
        self._load = load
        self._store = store
        # One proposal, approval or swap at a time in this instance; across instances
        # the store's head row lock decides.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    @property
    def two_person(self) -> bool:
        """Whether a change waits for a second security officer."""
        return self._two_person

    def proposal(self, author: str, files: Mapping[str, bytes]
                 ) -> Change[PolicyVersionRecord]:
        """Check a bundle: the change that records it active (in force), pending or
        rejected. A call stages it for its allow entry, which makes it, and then serves
        the version in force (`catch_up`); never fails open.

        Raises InvalidArgument for a malformed bundle. A bundle that loads but fails
        validation or its tests is recorded as rejected, and the running policy stays.
        """
        self._check_bundle(files)
        digest = bundle_hash(files)
        with self._lock:
            directory = self._materialise(digest, files)
            now = rfc3339(self._clock.now())
            live = self._current().directory
            problems, passed = self._problems(directory)
            # Weakening the live tests is never one officer's decision (live_tests.py).
            changed = changed_live_cases(read_bundle(live), files)
            # A proposal that keeps every live case as it is ran them all with its own
            # tests just now; only one that changes some must pass the live ones again.
            if changed:
                problems = problems or live_test_problems(live, directory)
            if problems:
                return propose_policy(
                    version=digest, bundle_hash=digest, author=author, proposed_at=now,
                    status=REJECTED, over_bundle=live.name, decided_at=now, reason=problems)
            state = self._load(directory)
            diff = policy_diff(live, directory).to_json()
            # The live bundle (its folder is named by its hash): what an approval must
            # still find live, masking profiles and test cases included.
            diff["old_bundle"] = live.name
            # What the officers approving it are shown: the decision tests it passed.
            diff["tests"] = passed
            if (live / "masking.toml").read_bytes() != files.get("masking.toml"):
                diff["notes"] = [*diff["notes"], "masking profiles changed (masking.toml)"]
            if changed:
                diff["tests_changed"] = changed
                diff["notes"] = [*diff["notes"], f"removes or changes {len(changed)} live "
                                 "decision test case(s): needs a second security officer"]
            # Every instance must find the files of a version it may be asked to serve.
            self._store.put_policy_bundle(digest, files)
            if self._two_person or changed:
                return propose_policy(
                    version=state.version, bundle_hash=digest, author=author, proposed_at=now,
                    status=PENDING, over_bundle=live.name, diff=diff)
            # Recorded (and the head moved) first: a rollout the store refused is not live.
            return propose_policy(
                version=state.version, bundle_hash=digest, author=author, proposed_at=now,
                status=ACTIVE, over_bundle=live.name, approver=author, decided_at=now,
                diff=diff)

    def approval(self, approver: str, version_id: int, comment: str = ""
                 ) -> Change[PolicyVersionRecord]:
        """Second-person approval of a pending version (the approver must not be its
        author): the change that puts it in force, staged and made like a proposal."""
        with self._lock:
            record = self._store.policy_version(version_id)
            if record is None:
                # The id is the caller's number: not quoted (it may be any 19 digits).
                raise InvalidArgument("no policy version with this id",
                                      reason="unknown_version")
            if record.status != PENDING:
                raise FailedPrecondition(f"version {version_id} is {record.status}, not pending")
            if record.author == approver:
                raise FailedPrecondition("the author of a change cannot approve it",
                                         reason="same_person")
            state = self._load(bundle_from_store(self._store, self._dir, record.bundle_hash))
            if state.version != record.version:
                raise FailedPrecondition("the stored bundle no longer matches its version")
            proposed_over = record.diff.get("old_bundle")
            if self.out_of_date(record):
                # The approver was shown the change against another live policy: approving
                # it now could silently undo whatever went live in between.
                raise FailedPrecondition("another policy went live since this proposal; "
                                         "propose it again to see its current effect",
                                         reason="stale_proposal")
            return approve_policy(version_id, approver=approver,
                                  at=rfc3339(self._clock.now()),
                                  over_bundle=str(proposed_over), comment=comment)

    def rejection(self, officer: str, version_id: int, comment: str
                  ) -> Change[PolicyVersionRecord]:
        """Turn a pending version down (any security officer, its author included): the
        change, staged and made like a proposal."""
        return reject_policy(version_id, at=rfc3339(self._clock.now()),
                             reason=f"rejected by {officer}", comment=comment)

    def serve_head(self) -> None:
        """Serve the version in force now (after a change of it was made here); when it
        cannot be loaded, the follower keeps trying and says why."""
        try:
            self.catch_up()
        except CredgateError as exc:
            log.error("the policy version in force cannot be served here yet: %s",
                      exc.diagnostics())

    def versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        """The newest versions first."""
        return self._store.policy_versions(limit)

    def out_of_date(self, record: PolicyVersionRecord) -> bool:
        """Whether a pending proposal was diffed against a policy no longer live here
        (its diff is stale and `approve` refuses it)."""
        return (record.status == PENDING
                and record.diff.get("old_bundle") != self._current().directory.name)

    def live_record(self, live: PolicyState) -> PolicyVersionRecord | None:
        """The recorded version of a live policy (None: the files the gateway started with,
        before any rollout, or a version this instance does not serve yet)."""
        version_id, digest = self._store.policy_head()
        if not digest or digest != live.directory.name:
            return None
        return self._store.policy_version(version_id)

    def version_folder(self, version_id: int) -> tuple[PolicyVersionRecord, Path]:
        """A kept version and the folder of its bundle, to decide under it.

        Raises InvalidArgument when there is no such version and FailedPrecondition for a
        rejected one (a bundle that failed its checks is not kept to decide by).
        """
        record = self._store.policy_version(version_id)
        if record is None:
            # The id is the caller's number: not quoted (it may be any 19 digits).
            raise InvalidArgument("no policy version with this id", reason="unknown_version")
        if record.status == REJECTED:
            raise FailedPrecondition("a rejected policy version cannot be explained",
                                     reason="rejected_version")
        return record, bundle_from_store(self._store, self._dir, record.bundle_hash)

    def follow(self, every: float = FOLLOW_EVERY) -> None:
        """From now on, serve the version in force in the store, in a background thread:
        at each notice of a change, and at least every `every` seconds."""
        self._follower = threading.Thread(target=self._follow, args=(every,),
                                          name="policy-follower", daemon=True)
        self._follower.start()

    def catch_up(self) -> bool:
        """Swap in the version in force in the store if this instance serves another;
        True when it did. Raises ConfigurationError when that version cannot be loaded
        here (this instance then keeps serving what it has)."""
        _, digest = self._store.policy_head()
        if not digest or digest == self._current().directory.name:
            return False
        with self._lock:
            _, digest = self._store.policy_head()  # again, now that no rollout runs here
            if not digest or digest == self._current().directory.name:
                return False
            self._activate(self._load(bundle_from_store(self._store, self._dir, digest)))
        log.info("policy version %s is in force here", digest[:12])
        return True

    def _follow(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except CredgateError as exc:
                log.error("the policy version in force cannot be served here: %s",
                          exc.diagnostics())
            except Exception as exc:  # the follower must outlive a bad pass
                log.error("policy follower: %s", type(exc).__name__)
            self._store.wait_for_policy_change(every, self._stop)

    def close(self) -> None:
        """Stop following the store."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=5)

    # -- internals -------------------------------------------------------------------

    def _check_bundle(self, files: Mapping[str, bytes]) -> None:
        if sum(len(v) for v in files.values()) > MAX_BUNDLE_BYTES:
            raise InvalidArgument("the policy bundle is too large")
        for position, name in enumerate(sorted(files), start=1):
            if not _BUNDLE_FILE.match(name):
                # Named by position and length, never quoted: the name is caller text.
                raise InvalidArgument(f"the policy bundle may not hold file {position} (a "
                                      f"name of {len(name)} characters): names are "
                                      "<name>.conf|csv|toml or tests/<name>.toml")
        missing = [f for f in REQUIRED_FILES if f not in files]
        if missing:
            raise InvalidArgument(f"the policy bundle lacks {', '.join(missing)}")
        for position, name in enumerate(sorted(files), start=1):
            if name.endswith(".toml") and _too_deep(files[name]):
                label = name if name in REQUIRED_FILES else f"file {position}"
                raise InvalidArgument(f"the policy bundle's {label} nests tables or arrays "
                                      f"deeper than {MAX_TOML_DEPTH} levels")

    def _materialise(self, digest: str, files: Mapping[str, bytes]) -> Path:
        return _write_bundle(self._dir / digest, files)

    def _problems(self, directory: Path) -> tuple[str, dict[str, object]]:
        """Why a bundle may not go live ("" when it may), and the tests it passed."""
        try:
            errors = [f for f in validate_policy(directory) if f.severity == "error"]
            if errors:
                return "validation failed: " + "; ".join(str(f) for f in errors[:10]), {}
            report = run_policy_tests(directory)
        except ConfigurationError as exc:
            return f"cannot load: {exc.message}", {}
        if not report.ok:
            failed = [r for r in report.results if not r.passed]
            names = ", ".join(r.case.id for r in failed[:10]) or "no test cases"
            return f"decision tests failed ({report.summary}): {names}", {}
        return "", {"summary": report.summary, "cases": [r.case.id for r in report.results]}

    def _activate(self, state: PolicyState) -> None:
        self._apply(state)
