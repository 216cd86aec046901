"""The gateway's parts, opened from a Config and wired together (no gRPC here)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Tracer

from gateway.audit.backend import Backend, PostgresBackend, SqliteBackend
from gateway.audit.continuation import started_entry, verify_final
from gateway.audit.entry import AuditEntry
from gateway.audit.search import AuditSearch
from gateway.audit.seen import SeenCheckpoint
from gateway.audit.shared import SharedAuditLog
from gateway.audit.shared_evidence import SharedEvidence
from gateway.catalogue.registry import Catalogue
from gateway.catalogue.sharing import routes
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.consent.artefacts import ConsentRegistry
from gateway.consent.uses import OutcomeSweeper, instance_id
from gateway.crypto.fields import FieldCipher
from gateway.crypto.key_files import check_key_files
from gateway.crypto.keyring import Keyring, load_keyring
from gateway.crypto.log_key import LOG_KEY_FILE, LOG_PUBLIC_FILE, load_log_key
from gateway.crypto.sealing import BoxPublicKey, load_box_public_key
from gateway.crypto.signatures import (
    AnySigningKey,
    AnyVerifyKey,
    PartyVerifyKey,
    load_party_verify_key,
    load_verify_key,
)
from gateway.crypto.signers import Signer, load_signer
from gateway.crypto.suites import suite as cipher_suite
from gateway.errors import ConfigurationError, CredgateError
from gateway.health import store_probe
from gateway.identify.request_signing import RequestVerifier, digest_of_audit_text
from gateway.identify.trust import PLATFORM_ROLE, PeerTrust, load_peer_trust
from gateway.metrics import Metrics, ScrapeReadings
from gateway.monitoring.cursor import MonitorStore
from gateway.monitoring.rules import SEVERITIES
from gateway.monitoring.runner import MonitorRunner, holder_name, monitor_db
from gateway.policy.decide import PolicyEngine
from gateway.policy.quotas import Quotas
from gateway.policy.rollout import (
    PolicyRollout,
    PolicyState,
    bundle_from_store,
    bundle_hash,
    load_state,
    read_bundle,
    snapshot_bundle,
)
from gateway.records.blacklist import Blacklist
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import RecordStore
from gateway.telemetry import make_tracer_provider


class Pusher(Protocol):
    """The outbox pusher as the gateway holds it (gateway.peers.outbox.OutboxPusher)."""

    def drain(self) -> int:
        """Push until every peer's queue is empty (or unreachable); the changes sent."""
        ...

    def close(self) -> None:
        """Stop pushing and close the channels."""
        ...


class PeerChannels(Protocol):
    """The peers this gateway asks during checks and forwards objections to, as the
    gateway holds them (gateway.peers.ask.PeerAskers)."""

    def close(self) -> None:
        """Stop asking and close the channels."""
        ...


def party_verify_key(keys_dir: Path, party_id: str) -> PartyVerifyKey:
    """A party's registered Ed25519 public key (keys/parties/<id>.sign.pub)."""
    return load_party_verify_key(keys_dir / "parties" / f"{party_id}.sign.pub")


POLICY_VERSIONS_DIR = "policy-versions"

log = logging.getLogger("credgate")


def load_seal_keys(keys_dir: Path, catalogue: Catalogue) -> dict[str, BoxPublicKey]:
    """The X25519 keys parties registered (keys/parties/<id>.box.pub): their answers'
    records are sealed to them."""
    return {
        p.id: load_box_public_key(keys_dir / "parties" / f"{p.id}.box.pub")
        for p in catalogue.parties.values()
        if (keys_dir / "parties" / f"{p.id}.box.pub").exists()
    }


def load_party_keys(keys_dir: Path, catalogue: Catalogue,
                    peers: PeerTrust | None = None) -> dict[str, PartyVerifyKey]:
    """The registered signing keys of every catalogue party that has one; a peer
    platform's comes from its trust bundle only."""
    keys = {
        p.id: party_verify_key(keys_dir, p.id)
        for p in catalogue.parties.values()
        if PLATFORM_ROLE not in p.roles
        and (keys_dir / "parties" / f"{p.id}.sign.pub").exists()
    }
    if peers is not None:
        keys.update({peer: key for peer, key in peers.verify_keys().items()
                     if peer in catalogue.parties
                     and PLATFORM_ROLE in catalogue.parties[peer].roles})
    return keys


def active_policy_dir(config: Config, store: RecordStore) -> Path:
    """The folder of the version in force, or the configured policies folder.

    The version in force is the store's (rolled out at any instance sharing it); a data
    folder from before the shared store may still name one in its versions.db. A version
    that went live through validation, tests and (maybe) approval stays live across
    restarts; to go back to the files, roll them out again.
    """
    versions_dir = config.data_dir / POLICY_VERSIONS_DIR
    _, digest = store.policy_head()
    live: Path | None = None
    if digest:
        live = bundle_from_store(store, versions_dir, digest)
    elif (versions_dir / "versions.db").exists():
        with closing(sqlite3.connect(versions_dir / "versions.db")) as db:
            row = db.execute("SELECT bundle_hash FROM policy_versions WHERE status = 'active' "
                             "ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None and (versions_dir / row[0]).is_dir():
            digest, live = row[0], versions_dir / row[0]
    if live is None:
        return config.policies_dir
    if config.policies_dir.is_dir() and bundle_hash(read_bundle(config.policies_dir)) != digest:
        # Not an error (the rolled-out version went through tests and approval), but an
        # operator who edited the files must not believe they are live.
        log.warning("serving rolled-out policy version %s; the files in %s differ and are "
                    "not live until rolled out (credgate policy rollout or SIGHUP)",
                    digest[:12], config.policies_dir)
    return live


def recent_request_digests(audit: SharedAuditLog, since: datetime,
                           chunk: int = 1000) -> list[tuple[str, datetime]]:
    """Request digests of the audit entries made since a time, oldest first."""
    found: list[tuple[str, datetime]] = []
    end = audit.size()
    while end >= 1:
        start = max(1, end - chunk + 1)
        entries = audit.read(start=start, limit=end - start + 1)
        for _seq, entry in reversed(entries):
            digest = digest_of_audit_text(entry.request_signature)
            if digest is not None and entry.time >= since:
                found.append((digest, entry.time))
        # Entry times follow seq but for threads racing to the log; a second of slack.
        if entries and entries[0][1].time < since - timedelta(seconds=1):
            break
        end = start - 1
    found.reverse()
    return found


def gateway_metrics(gw: Gateway) -> Metrics:
    """The metrics of a gateway: labels bounded by its running catalogue, and log size,
    checkpoint age and health read from its parts at each scrape."""
    metrics = Metrics(parties=lambda: gw.state.catalogue.parties,
                      purposes=lambda: gw.state.catalogue.purposes)

    def checkpoint_time() -> datetime | None:
        latest = gw.audit_evidence.store.latest()
        return latest.time if latest is not None else None

    metrics.read_at_scrape(ScrapeReadings(
        log_size=gw.audit.size, checkpoint_time=checkpoint_time,
        health={"audit_log": gw.audit.ping, "store": store_probe(gw.store)},
        now=gw.clock.now))
    return metrics


def open_store(config: Config) -> RecordStore:
    """The record store the config names: embedded SQLite or PostgreSQL."""
    if config.database == "sqlite":
        return SqliteStore(config.records_db)
    if config.database.startswith(("postgresql://", "postgres://")):
        from gateway.records.postgres_store import PostgresStore

        # A call waits at most 3 s for a pooled connection: while the database refuses
        # connections, callers hear UNAVAILABLE soon instead of their deadline passing.
        return PostgresStore(config.database, schema=config.database_schema,
                             pool_timeout=3.0)
    raise ConfigurationError("database must be 'sqlite' or a postgresql:// conninfo")


#: The file in each instance's data directory that remembers the newest checkpoint seen.
SEEN_CHECKPOINT = "audit-seen-checkpoint"


def key_event(time: datetime, *, action: str, reason: str, by: str = "operator",
              policy_version: str = "") -> AuditEntry:
    """The audit entry of a key event (keys.rotate, keys.reencrypt): no subject, no data."""
    return AuditEntry(
        time=time, trace_id="", requester=by, action=action, purpose="supervision",
        subject_index="", categories=(), fields_released=(), consent_id="", policy_rule="",
        policy_version=policy_version, decision="allow", reason=reason,
        request_id=f"keys-{uuid.uuid4()}", record_count=0)


def seen_checkpoint_file(config: Config) -> str:
    """The seen-checkpoint file of the configured log (one per log: a rotated log has
    its own beside the old one's)."""
    return SEEN_CHECKPOINT + (f".{config.audit_location}" if config.audit_location else "")


def audit_backend(config: Config) -> Backend:
    """Where the shared audit log lives: beside the store (same database and schema)."""
    if config.database == "sqlite":
        return SqliteBackend(config.audit_db, lock_timeout_ms=config.audit_busy_timeout_ms)
    if config.database.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(config.database,
                               schema=config.audit_location or config.database_schema,
                               lock_timeout_ms=config.audit_busy_timeout_ms)
    raise ConfigurationError("database must be 'sqlite' or a postgresql:// conninfo")


def retired_party_keys(keys_dir: Path, party_keys: dict[str, PartyVerifyKey]
                       ) -> dict[str, list[PartyVerifyKey]]:
    """Each party's current key and the keys it replaced (parties/<id>.sign.retired*.pub).

    A replaced key verifies no new request, but the audit's self-check still checks the
    requests it signed before.
    """
    return {party: [key, *(load_party_verify_key(p) for p in sorted(
        (keys_dir / "parties").glob(f"{party}.sign.retired*.pub")))]
        for party, key in party_keys.items()}


def _replay_horizon_s(config: Config) -> float:
    # The shared replay memory keeps a digest while its request can still be inside the
    # configured window (twice the window), not a fixed default's: a wider window would
    # let a request remembered at one instance be served again at another.
    return 2.0 * config.request_window_s


def open_audit(config: Config, log_key: AnySigningKey, *, clock: Clock | None = None,
               party_keys: dict[str, PartyVerifyKey] | None = None
               ) -> tuple[SharedAuditLog, SharedEvidence]:
    """Open the shared log with its full self-check; raises TamperDetected or AuditUnavailable."""
    backend = audit_backend(config)
    backend.create_schema()
    seen = SeenCheckpoint(config.data_dir / seen_checkpoint_file(config), log_key.verify_key,
                          config.audit_origin)
    audit = SharedAuditLog(backend, signing_key=log_key, origin=config.audit_origin,
                           seen=seen, remember_for=_replay_horizon_s(config))
    try:
        if audit.is_closed():
            raise ConfigurationError(
                f"the audit log {config.audit_origin} was closed by `credgate keys rotate "
                "log`: start with the new log's settings (audit_origin, audit_location, "
                "audit_previous_checkpoint)")
        evidence = SharedEvidence.open(audit, log_key, clock=clock,
                                       interval=config.audit_checkpoint_interval_s or None,
                                       party_keys=None if party_keys is None else
                                       retired_party_keys(config.keys_dir, party_keys))
        if config.audit_previous_checkpoint and audit.size() == 0:
            _name_previous_log(config, log_key, audit, evidence, clock or SystemClock())
    except BaseException:
        audit.close()
        raise
    return audit, evidence


def open_audit_writer(config: Config, keyring: Keyring) -> SharedAuditLog:
    """The configured shared log, opened to append only (no full self-check: the state
    MAC, the planted-row check and the seen checkpoint still guard every append), with
    the log key of the key folder; for commands that record key events. Raises
    ConfigurationError or AuditUnavailable."""
    log_key = load_log_key(config.keys_dir / LOG_KEY_FILE, keyring.token)
    backend = audit_backend(config)
    backend.create_schema()
    seen = SeenCheckpoint(config.data_dir / seen_checkpoint_file(config), log_key.verify_key,
                          config.audit_origin)
    return SharedAuditLog(backend, signing_key=log_key, origin=config.audit_origin, seen=seen,
                          remember_for=_replay_horizon_s(config))


ANSWER_KEY_FILE = "gateway.answer.key"


def load_answer_key(config: Config, keyring: Keyring) -> Signer:
    """The key that signs answers, checked against the configured suite.

    ``gateway.answer.key`` (or, in a key set made before answers were signed, the log
    key). Raises ConfigurationError when the data keys' active suite or the answer key's
    algorithm is not the configured suite's: a gateway never serves under another suite
    than the one its operator chose.
    """
    chosen = cipher_suite(config.suite)
    if keyring.active_suites() != {chosen.name}:
        raise ConfigurationError(
            f"the active data keys are of the {'/'.join(sorted(keyring.active_suites()))} "
            f"suite but the configured suite is {chosen.name} (set suite in the config, or "
            "rotate the keys)")
    path = config.keys_dir / ANSWER_KEY_FILE
    key = load_signer(path if path.exists() else config.keys_dir / "gateway.log.key")
    if key.algorithm != chosen.signature:
        raise ConfigurationError(f"the answer key is {key.algorithm}; the {chosen.name} suite "
                                 f"signs with {chosen.signature}")
    return key


def log_verify_keys(keys_dir: Path) -> list[AnyVerifyKey]:
    """The log's public key and those it replaced (gateway.log.retired-<n>.pub, kept by
    ``credgate keys rotate log``): each verifies the checkpoints of its own log."""
    return [load_verify_key(path) for path in (
        keys_dir / LOG_PUBLIC_FILE, *sorted(keys_dir.glob("gateway.log.retired*.pub")))
        if path.exists()]


def monitor_store(config: Config, audit: Backend) -> MonitorStore:
    """The monitor's position and alert claims: monitor.db in the data directory, or the
    audit log's PostgreSQL schema (tables made there by `credgate db migrate`)."""
    if config.database == "sqlite":
        return MonitorStore(SqliteBackend(monitor_db(config.data_dir),
                                          lock_timeout_ms=config.audit_busy_timeout_ms))
    return MonitorStore(audit)


def open_monitor(config: Config, gw: Gateway, holder: str) -> MonitorRunner:
    """The monitor of this process, started unless monitor_interval_s is 0."""
    backend = gw.audit.backend
    metrics = gw.metrics
    metrics.rules = lambda: {r.id for r in gw.state.monitoring.rules}
    metrics.severities = lambda: SEVERITIES
    runner = MonitorRunner(audit=gw.audit, store=monitor_store(config, backend), clock=gw.clock,
                           rules=lambda: (gw.state.monitoring, gw.state.catalogue),
                           holder=holder, interval=config.monitor_interval_s or 1.0,
                           on_alert=lambda a: metrics.alert_raised(rule=a.rule,
                                                                   severity=a.severity))
    if config.monitor_interval_s:
        runner.start()
    return runner


def _name_previous_log(config: Config, log_key: AnySigningKey, audit: SharedAuditLog,
                       evidence: SharedEvidence, clock: Clock) -> None:
    """A new log's first entry names the final checkpoint of the log it continues."""
    path = Path(config.audit_previous_checkpoint)
    try:
        old, old_key = verify_final(path.read_text(encoding="utf-8"),
                                    [log_key.verify_key, *log_verify_keys(config.keys_dir)])
    except (OSError, UnicodeError, CredgateError) as exc:
        raise ConfigurationError("audit_previous_checkpoint must be the previous log's final "
                                 "checkpoint, signed with this log key or a retired one",
                                 detail=type(exc).__name__) from None
    if old.origin == config.audit_origin:
        raise ConfigurationError("the continued log must have another origin than this one")
    audit.append(started_entry(old, old_key, clock.now()))
    evidence.checkpointer.checkpoint_now()


@dataclass
class Gateway:
    """Catalogue, policy, keys, store, consent registry, audit log, clock and tracer."""

    config: Config
    #: Catalogue and policy engine; replaced as a whole by a rollout (one reference
    #: swap), and each call takes it once at its start, so no call sees a mix.
    state: PolicyState
    #: The data keys: blind indexes, keyed digests and pseudonyms read them here.
    keyring: Keyring
    #: Seals and opens stored field values under the keyring's master keys (it reads
    #: the keyring on every call, so keys adopted by reload_keys are used at once).
    cipher: FieldCipher
    store: RecordStore
    audit: SharedAuditLog
    audit_search: AuditSearch
    audit_evidence: SharedEvidence
    consents: ConsentRegistry
    requests: RequestVerifier
    clock: Clock
    tracer_provider: TracerProvider
    tracer: Tracer
    #: The credit agency blacklist, checked on every call right after identify.
    blacklist: Blacklist
    #: The gateway's log key (the suite's algorithm, in a file or a token): signs
    #: checkpoints, disclosure manifests and credit reports.
    log_key: AnySigningKey | None = None
    #: The gateway's answer key (the suite's algorithm): signs every answer it gives.
    answer_key: Signer | None = None
    #: The parties' registered X25519 keys: their answers' records are sealed to them.
    seal_keys: dict[str, BoxPublicKey] = field(default_factory=dict)
    rollout: PolicyRollout | None = None
    #: Gives back consent uses of calls that crashed before their outcome was known.
    sweeper: OutcomeSweeper | None = None
    #: The quota step's counters (gateway.policy.quotas); None only in a hand-built gateway,
    #: which then refuses every call a limit applies to.
    quotas: Quotas | None = None
    #: Prometheus metrics (gateway.metrics); served only when metrics_port is set.
    metrics: Metrics = field(default_factory=Metrics)
    #: The peer platforms' trust bundles (keys/peers/); None when there are none.
    peers: PeerTrust | None = None
    #: Pushes the outbox to the peers sharing.toml sends to (gateway/peers/outbox.py),
    #: started with the server when platform_id is set and peers are configured.
    outbox: Pusher | None = None
    #: The peers a check asks (config ask_peer) and objections go to; the server opens
    #: them (gateway.peers.ask.open_peer_askers).
    peer_askers: PeerChannels | None = None

    #: Runs policies/monitoring.toml over the audit log and logs the alerts (issue 16).
    monitor: MonitorRunner | None = None

    def sharing_routes(self, state: PolicyState) -> dict[str, tuple[str, ...]]:
        """category -> the peers its changes are queued for: those sharing.toml sends to
        whose trust bundle says where they are (no address: nothing piles up for them)."""
        bundles = self.peers.bundles if self.peers is not None else {}
        reachable = {peer for peer, bundle in bundles.items()
                     if (bundle.directory / "peer.toml").exists()}
        return {code: kept for code, peers in routes(state.catalogue.sharing).items()
                if (kept := tuple(p for p in peers if p in reachable))}

    @property
    def catalogue(self) -> Catalogue:
        """The running catalogue (a call should use its own snapshot)."""
        return self.state.catalogue

    @property
    def policy(self) -> PolicyEngine:
        """The running policy engine (a call should use its own snapshot)."""
        return self.state.engine

    def apply_policy(self, state: PolicyState) -> None:
        """Make a checked policy the running one, atomically."""
        self.requests.use_keys(load_party_keys(self.config.keys_dir, state.catalogue, self.peers))
        self.seal_keys = load_seal_keys(self.config.keys_dir, state.catalogue)
        self.consents.use_catalogue(state.catalogue)
        self.store.route_changes(self.sharing_routes(state))
        self.state = state  # the swap: one reference assignment

    def reload_keys(self, *, by: str = "operator") -> list[str]:
        """Take the key file's keys while serving (online rotation); returns what changed.

        The new keys must keep every key in use and be of the configured suite; each new
        active key is an audit entry (``keys.rotate``). Raises ConfigurationError, and then
        the running keys stay as they were.
        """
        new = load_keyring(self.config.keys_dir)
        if new.active_suites() != {self.config.suite}:
            raise ConfigurationError("the new active keys are not of the configured suite")
        before = (self.keyring.active_master_id, self.keyring.active_index_id,
                  self.keyring.active_pseudonym_id)
        self.keyring.adopt(new)
        after = (new.active_master_id, new.active_index_id, new.active_pseudonym_id)
        changes = [f"{kind} key {key_id} active" for kind, old, key_id in zip(
            ("master", "blind-index", "pseudonym"), before, after, strict=True) if old != key_id]
        for change in changes:
            self.audit.append(key_event(self.clock.now(), action="keys.rotate", reason=change,
                                        by=by, policy_version=self.state.version))
        return changes

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        span_exporter: SpanExporter | None = None,
    ) -> Gateway:
        """Load everything; raises ConfigurationError so a broken set-up never serves."""
        clock = clock or SystemClock()
        development = check_key_files(config.keys_dir)
        if development:
            log.warning("the keys in %s are marked DEVELOPMENT ONLY: whoever has a copy can "
                        "read every stored value and act as any party; never serve real "
                        "data with them", config.keys_dir)
        keyring = load_keyring(config.keys_dir)
        if keyring.token is None and not development:
            log.warning("the master and blind-index keys are in %s/data-keys.toml: file keys "
                        "are for development; keep production keys in a PKCS#11 token "
                        "(credgate keys init --pkcs11)", config.keys_dir)
        cipher = FieldCipher(keyring)
        answer_key = load_answer_key(config, keyring)
        # The store first: it says which policy version is in force.
        store = open_store(config)
        try:
            policy_dir = active_policy_dir(config, store)
            if policy_dir == config.policies_dir:
                # Serve a copy: the files may be edited in place before the next reload.
                policy_dir = snapshot_bundle(config.data_dir / POLICY_VERSIONS_DIR,
                                             policy_dir)
            state = load_state(policy_dir, keyring)
            catalogue = state.catalogue
            peers = load_peer_trust(config.keys_dir)
            party_keys = load_party_keys(config.keys_dir, catalogue, peers)
            issuer_keys = {p.id: party_keys[p.id] for p in catalogue.parties.values()
                           if p.consent_issuer and p.id in party_keys}
            config.data_dir.mkdir(parents=True, exist_ok=True)
            # In the token when gateway.log.key names it (keys init --pkcs11).
            log_key = load_log_key(config.keys_dir / LOG_KEY_FILE, keyring.token)
            # The start-up self-check: a log that no longer matches its last signed
            # checkpoint raises TamperDetected here, and the gateway refuses to serve.
            audit, evidence = open_audit(config, log_key, clock=clock, party_keys=party_keys)
        except BaseException:
            store.close()
            raise
        instance = instance_id(config.data_dir)
        evidence.start()
        provider = make_tracer_provider(span_exporter or config.trace_exporter)
        gw = cls(
            config=config,
            state=state,
            keyring=keyring,
            cipher=cipher,
            store=store,
            audit=audit,
            audit_search=AuditSearch(audit.backend),
            audit_evidence=evidence,
            consents=ConsentRegistry(store=store, keyring=keyring, cipher=cipher,
                                     catalogue=catalogue, issuer_keys=issuer_keys, clock=clock,
                                     instance=instance),
            requests=RequestVerifier(keys=party_keys, clock=clock,
                                     window=timedelta(seconds=config.request_window_s),
                                     memory=store),
            clock=clock,
            tracer_provider=provider,
            tracer=provider.get_tracer("credgate"),
            blacklist=Blacklist(store, cipher=cipher, ttl=config.blacklist_cache_s),
            log_key=log_key,
            answer_key=answer_key,
            seal_keys=load_seal_keys(config.keys_dir, catalogue),
            peers=peers,
        )
        # Digests of requests verified before a restart are remembered again: a request
        # signed just before it cannot be replayed just after it.
        horizon = clock.now() - 2 * timedelta(seconds=config.request_window_s)
        gw.requests.remember_earlier(recent_request_digests(audit, horizon))
        gw.metrics = gateway_metrics(gw)
        gw.quotas = Quotas(store, clock=clock)
        gw.sweeper = OutcomeSweeper(store, audit, clock=clock)
        gw.sweeper.start()
        gw.rollout = PolicyRollout(store=store,
                                   versions_dir=config.data_dir / POLICY_VERSIONS_DIR,
                                   clock=clock, two_person=config.two_person,
                                   current=lambda: gw.state, apply=gw.apply_policy,
                                   load=lambda directory: load_state(directory, keyring))
        # A rollout at any instance sharing the store is in force here within a second.
        gw.rollout.follow()
        # Changes of shared records are queued from here on; the server starts the pusher.
        gw.store.route_changes(gw.sharing_routes(state))
        gw.monitor = open_monitor(config, gw, holder_name(instance))
        return gw

    def close(self) -> None:
        """Flush traces and close the audit log and the store (closing twice is harmless)."""
        if self.__dict__.get("_closed"):
            return
        self.__dict__["_closed"] = True
        if self.outbox is not None:
            self.outbox.close()
        if self.peer_askers is not None:
            self.peer_askers.close()
        if self.monitor is not None:
            self.monitor.close()
        if self.sweeper is not None:
            self.sweeper.close()
        try:
            self.consents.flush_settled()
        except CredgateError:
            log.warning("settled consent uses left to the sweeper of the next start")
        self.tracer_provider.force_flush()
        self.audit_search.close()
        self.audit_evidence.close()  # a final checkpoint covering every committed entry
        self.audit.close()
        if self.rollout is not None:
            self.rollout.close()  # stops following the store, so before it closes
        if self.quotas is not None:
            self.quotas.close()  # unused leases go back to the shared counters
        self.store.close()
        if self.keyring.token is not None:
            self.keyring.token.close()
