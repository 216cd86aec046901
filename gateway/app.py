"""The gateway's parts, opened from a Config and wired together (no gRPC here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from nacl.signing import VerifyKey
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Tracer

from gateway.audit.checkpoint import AuditEvidence
from gateway.audit.log import SqliteAuditLog
from gateway.audit.search import AuditSearch
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.consent import ConsentRegistry
from gateway.crypto import load_keyring, load_signing_key, load_verify_key
from gateway.crypto.keyring import Keyring
from gateway.errors import ConfigurationError
from gateway.policy.engine import PolicyEngine
from gateway.records.catalogue import Catalogue, load_catalogue
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import RecordStore
from gateway.request_signing import RequestVerifier
from gateway.telemetry import make_tracer_provider


def party_verify_key(keys_dir: Path, party_id: str) -> VerifyKey:
    """A party's registered Ed25519 public key (keys/parties/<id>.sign.pub)."""
    return load_verify_key(keys_dir / "parties" / f"{party_id}.sign.pub")


def open_store(config: Config) -> RecordStore:
    """The record store the config names: embedded SQLite or PostgreSQL."""
    if config.database == "sqlite":
        return SqliteStore(config.records_db)
    if config.database.startswith(("postgresql://", "postgres://")):
        from gateway.records.postgres_store import PostgresStore

        return PostgresStore(config.database)
    raise ConfigurationError("database must be 'sqlite' or a postgresql:// conninfo")


@dataclass
class Gateway:
    """Catalogue, policy, keys, store, consent registry, audit log, clock and tracer."""

    config: Config
    catalogue: Catalogue
    policy: PolicyEngine
    keyring: Keyring
    store: RecordStore
    audit: SqliteAuditLog
    audit_search: AuditSearch
    audit_evidence: AuditEvidence
    consents: ConsentRegistry
    requests: RequestVerifier
    clock: Clock
    tracer_provider: TracerProvider
    tracer: Tracer

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
        catalogue = load_catalogue(config.policies_dir)
        policy = PolicyEngine.load(config.policies_dir, catalogue)
        keyring = load_keyring(config.keys_dir)
        party_keys = {
            p.id: party_verify_key(config.keys_dir, p.id)
            for p in catalogue.parties.values()
            if (config.keys_dir / "parties" / f"{p.id}.sign.pub").exists()
        }
        issuer_keys = {p.id: party_keys[p.id] for p in catalogue.parties.values()
                       if p.consent_issuer and p.id in party_keys}
        config.data_dir.mkdir(parents=True, exist_ok=True)
        log_key = load_signing_key(config.keys_dir / "gateway.log.key")
        # The start-up self-check: a log that no longer matches its last signed
        # checkpoint raises TamperDetected here, and the gateway refuses to serve.
        evidence = AuditEvidence.open(config.audit_db, log_key, origin=config.audit_origin,
                                      clock=clock,
                                      interval=config.audit_checkpoint_interval_s or None)
        try:
            store = open_store(config)
            audit = SqliteAuditLog(config.audit_db,
                                   busy_timeout_ms=config.audit_busy_timeout_ms,
                                   on_commit=evidence.tree.on_commit)
        except BaseException:
            evidence.close()
            raise
        evidence.start()
        provider = make_tracer_provider(span_exporter or config.trace_exporter)
        return cls(
            config=config,
            catalogue=catalogue,
            policy=policy,
            keyring=keyring,
            store=store,
            audit=audit,
            audit_search=AuditSearch(config.audit_db),
            audit_evidence=evidence,
            consents=ConsentRegistry(store=store, keyring=keyring, catalogue=catalogue,
                                     issuer_keys=issuer_keys, clock=clock),
            requests=RequestVerifier(keys=party_keys, clock=clock,
                                     window=timedelta(seconds=config.request_window_s)),
            clock=clock,
            tracer_provider=provider,
            tracer=provider.get_tracer("credgate"),
        )

    def close(self) -> None:
        """Flush traces and close the audit log and the store (closing twice is harmless)."""
        if self.__dict__.get("_closed"):
            return
        self.__dict__["_closed"] = True
        self.tracer_provider.force_flush()
        self.audit_search.close()
        self.audit.close()
        self.audit_evidence.close()  # signs a final checkpoint, so after the log closes
        self.store.close()
