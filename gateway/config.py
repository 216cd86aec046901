"""Gateway settings: where the data, keys and policies live and how to listen."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where an installed package (not a checkout) keeps the default policies and keys.
SHIPPED_ROOT = Path(__file__).resolve().parent / "_defaults"


def shipped(name: str) -> Path:
    """A folder of the checkout ("policies", "keys_example"), or the copy an installed
    package ships; the checkout's path when neither exists (errors then name it)."""
    here = REPO_ROOT / name
    if here.is_dir() or not (SHIPPED_ROOT / name).is_dir():
        return here
    return SHIPPED_ROOT / name


def default_data_dir() -> Path:
    """var/ in a checkout; the user's data folder for an installed package."""
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "var"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "credgate"


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything needed to start a gateway; defaults are the embedded development set-up."""

    listen: str = "127.0.0.1:7443"
    data_dir: Path = field(default_factory=default_data_dir)
    keys_dir: Path = field(default_factory=lambda: shipped("keys_example"))
    policies_dir: Path = field(default_factory=lambda: shipped("policies"))
    #: "sqlite" (embedded, the default) or a PostgreSQL conninfo "postgresql://...".
    database: str = "sqlite"
    #: The PostgreSQL schema that holds the shared tables (store and audit log).
    database_schema: str = "credgate"
    #: Threads answering calls in one process. Four keep two cores busy: a call spends
    #: most of its wait in the audit commit, and more threads only add GIL hand-offs
    #: (measured, issue 12: 16 -> 4 halved the context switches per call). For more
    #: throughput run more processes (serve --workers N).
    max_workers: int = 4
    #: Seconds after which the server asks a client to open a new connection (0: never),
    #: so that behind an L4 load balancer the calls spread again over the instances.
    max_connection_age_s: float = 0.0
    audit_busy_timeout_ms: int = 2000
    #: The audit log's name in its signed checkpoints (C2SP checkpoint origin line).
    audit_origin: str = "credgate.example/audit-log"
    #: The final checkpoint file of a log this one continues (migration from a per-instance
    #: log): a new, empty log's first entry names it. "" when there is none.
    audit_previous_checkpoint: str = ""
    #: Where the log lives, when not in the default place: a file name in the data dir
    #: (SQLite; default audit.db) or a PostgreSQL schema (default database_schema). A log
    #: started by `credgate keys rotate log` lives in a new place ("audit-2.db").
    audit_location: str = ""
    #: Seconds between scheduled checkpoints; 0 signs only on demand and at shutdown.
    audit_checkpoint_interval_s: float = 60.0
    #: A development or test set-up (the demo, the test suite): only then may the
    #: two-person rule be off. Never set in production.
    development: bool = False
    #: A policy change waits for a second security officer's approval. Unset, it is on
    #: unless `development` is true; off is refused outside development (no single
    #: officer may open personal data).
    policy_two_person: bool | None = None
    #: How far a signed request's time may be from the gateway's clock, in seconds.
    request_window_s: int = 120
    #: "none", "console" or "otlp" (needs the `otlp` extra and OTEL_EXPORTER_OTLP_ENDPOINT).
    trace_exporter: str = "none"
    #: Cipher suite: "international" (AES-256-GCM, HMAC-SHA256, Ed25519) or "gm" (SM4-GCM,
    #: HMAC-SM3, SM3, SM2). The data keys' active suite and the answer key must match it.
    suite: str = "international"
    #: Seconds an instance may enforce a blacklist read from the store before reading it
    #: again (a listing made on another instance sharing the store takes this long).
    blacklist_cache_s: float = 1.0
    #: The port of the Prometheus metrics endpoint (gateway.metrics); 0 (the default)
    #: serves none. With `serve --workers N`, worker i listens on metrics_port + i.
    metrics_port: int = 0
    #: The address the metrics endpoint binds to: loopback unless the operator opens it.
    metrics_host: str = "127.0.0.1"
    #: This gateway's party id at its peer platforms (their parties.toml names it with the
    #: role platform); its client certificate and signing key are keys/parties/<id>.*.
    #: "" when it pushes to no peer (keys/peers/ holds the peers' trust bundles).
    platform_id: str = ""
    #: Seconds between looks at the outbox when there was nothing to push (a change is
    #: pushed at once; a peer that is down is tried again after this).
    peer_push_interval_s: float = 1.0
    #: Changes per push to a peer (each push is one signed call and two audit entries).
    peer_push_batch: int = 100
    #: The peer platform (its party id, e.g. "province") a joint punishment or green
    #: channel check consults for records that live elsewhere; "" consults none.
    ask_peer: str = ""
    #: Seconds a check waits for the peer; past it the answer says "incomplete".
    ask_peer_budget_s: float = 2.0
    #: Seconds between the monitor's passes over the audit log (policies/monitoring.toml);
    #: 0 stops the background passes (a test then runs Gateway.monitor.step itself).
    monitor_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.policy_two_person is False and not self.development:
            raise ConfigurationError("setting policy_two_person may be false only with "
                                     "development = true: in production every policy change "
                                     "needs a second security officer")

    @property
    def two_person(self) -> bool:
        """Whether a policy change waits for a second officer (on unless development)."""
        if self.policy_two_person is None:
            return not self.development
        return self.policy_two_person

    @property
    def records_db(self) -> Path:
        """The SQLite file of records and consents."""
        return self.data_dir / "records.db"

    @property
    def audit_db(self) -> Path:
        """The SQLite file of the audit log (kept apart from the records)."""
        return self.data_dir / (self.audit_location or "audit.db")


_PATHS = {"data_dir", "keys_dir", "policies_dir"}
#: Whole-number settings and their allowed range.
_INTS = {"max_workers": (1, 1024), "audit_busy_timeout_ms": (0, 600_000),
         "request_window_s": (1, 3600), "metrics_port": (0, 65535),
         "peer_push_batch": (1, 1000)}
#: Seconds settings and their allowed range (finite: inf or nan would disable the timer).
_SECONDS = {"audit_checkpoint_interval_s": (0.0, 86_400.0), "blacklist_cache_s": (0.0, 3600.0),
            "max_connection_age_s": (0.0, 86_400.0), "peer_push_interval_s": (0.05, 3600.0),
            "ask_peer_budget_s": (0.05, 60.0),
            "monitor_interval_s": (0.0, 3600.0)}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: A log's place: a file name in the data dir or a schema name, nothing that walks paths.
_LOCATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Read a TOML config file (optional), then CREDGATE_* variables, then overrides.

    Every setting is checked: an unknown name, a value of the wrong kind or out of range
    raises ConfigurationError naming the setting (never a silent default).
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                doc = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read config file: {exc}") from None
        if set(doc) - {"gateway"} or not isinstance(doc.get("gateway", {}), dict):
            # Settings outside [gateway] (or a misspelt table) would be silently ignored.
            raise ConfigurationError("config file: put every setting in a [gateway] table "
                                     f"(found {sorted(doc)})")
        values.update(doc.get("gateway", {}))
    known = {f.name for f in fields(Config)}
    for name in known:
        env = os.environ.get(f"CREDGATE_{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - known
    if unknown:
        raise ConfigurationError(f"unknown config settings: {sorted(unknown)}")
    for name in _PATHS & set(values):
        values[name] = Path(values[name])
    for name, (low, high) in _INTS.items():
        if name in values:
            values[name] = _number(name, values[name], int, low, high)
    for name, (low_s, high_s) in _SECONDS.items():
        if name in values:
            values[name] = _number(name, values[name], float, low_s, high_s)
    if not _LOCATION.fullmatch(str(values.get("audit_location", "")) or "audit.db"):
        raise ConfigurationError("setting audit_location must be a plain file or schema name")
    if "suite" in values and values["suite"] not in ("international", "gm"):
        raise ConfigurationError("setting suite must be 'international' or 'gm'")
    for name in ("development", "policy_two_person"):
        if name in values:
            values[name] = _flag(name, values[name])
    return replace(Config(), **values)


def _number(name: str, value: Any, kind: type[int] | type[float], low: float,
            high: float) -> Any:
    """A setting as a number within [low, high]; raises ConfigurationError."""
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"setting {name} must be a {kind.__name__}") from None
    if not low <= number <= high:  # also false for nan
        raise ConfigurationError(f"setting {name} must be between {low:g} and {high:g}")
    return number


def _flag(name: str, value: Any) -> bool:
    """A yes/no setting; anything but a clear yes or no is refused, never taken as no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"setting {name} must be true or false")


def default_policies_dir() -> Path:
    """The policies a command reads when none is named (the development set)."""
    return Config().policies_dir


def default_keys_dir() -> Path:
    """The keys a command uses when none are named (the development set)."""
    return Config().keys_dir
