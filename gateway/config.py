"""Gateway settings: where the data, keys and policies live and how to listen."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything needed to start a gateway; defaults are the embedded development set-up."""

    listen: str = "127.0.0.1:7443"
    data_dir: Path = REPO_ROOT / "var"
    keys_dir: Path = REPO_ROOT / "keys_example"
    policies_dir: Path = REPO_ROOT / "policies"
    #: "sqlite" (embedded, the default) or a PostgreSQL conninfo "postgresql://...".
    database: str = "sqlite"
    max_workers: int = 16
    audit_busy_timeout_ms: int = 2000
    #: The audit log's name in its signed checkpoints (C2SP checkpoint origin line).
    audit_origin: str = "credgate.example/audit-log"
    #: Seconds between scheduled checkpoints; 0 signs only on demand and at shutdown.
    audit_checkpoint_interval_s: float = 60.0
    #: A policy change waits for a second security officer's approval.
    policy_two_person: bool = False
    #: How far a signed request's time may be from the gateway's clock, in seconds.
    request_window_s: int = 120
    #: "none", "console" or "otlp" (needs the `otlp` extra and OTEL_EXPORTER_OTLP_ENDPOINT).
    trace_exporter: str = "none"
    #: Seconds an instance may enforce a blacklist read from the store before reading it
    #: again (a listing made on another instance sharing the store takes this long).
    blacklist_cache_s: float = 1.0

    @property
    def records_db(self) -> Path:
        """The SQLite file of records and consents."""
        return self.data_dir / "records.db"

    @property
    def audit_db(self) -> Path:
        """The SQLite file of the audit log (kept apart from the records)."""
        return self.data_dir / "audit.db"


_PATHS = {"data_dir", "keys_dir", "policies_dir"}


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Read a TOML config file (optional), then CREDGATE_* variables, then overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                values.update(tomllib.load(fh).get("gateway", {}))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read config file: {exc}") from None
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
    for name in ("max_workers", "audit_busy_timeout_ms", "request_window_s"):
        if name in values:
            values[name] = int(values[name])
    if isinstance(values.get("policy_two_person"), str):
        values["policy_two_person"] = values["policy_two_person"].lower() in ("1", "true", "yes")
    for name in ("audit_checkpoint_interval_s", "blacklist_cache_s"):
        if name in values:
            values[name] = float(values[name])
    return replace(Config(), **values)
