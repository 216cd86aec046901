"""Rotating the log key: close the log, begin a new one under a new origin and key.

A checkpoint names its log (the origin) and is signed by the log key, so a new log key
means a new log. ``credgate keys rotate log`` (``rotate_log_key``):

1. opens the current log with its full self-check, under the current key;
2. makes the new key (in the token when the current one is there; otherwise of the
   configured suite's algorithm);
3. appends ``audit.log_closed`` (naming the new origin and key id) and closes the log
   in the same transaction (``SharedAuditLog.close_with``: instances still serving on
   it fail their calls closed from then on, and none can open it again), signs the
   final checkpoint and exports the whole closed log beside it (``closed-logs/<n>/``),
   so a regulator can verify it offline with the retired public key;
4. keeps the old public key as ``gateway.log.retired-<n>.pub`` and writes the new key
   files;
5. gives the settings of the new log: ``audit_origin``, ``audit_location`` (a new
   SQLite file or PostgreSQL schema; the old log stays where it was, read-only) and
   ``audit_previous_checkpoint``. Written into the config file when one is named.

The first instance started on the new settings begins the new log with
``audit.log_started``, naming the final checkpoint (``gateway.audit.continuation``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gateway.app import log_verify_keys, open_audit
from gateway.audit.checkpoint import Checkpoint, check_key_name
from gateway.audit.continuation import closed_entry
from gateway.audit.export import export_range
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.crypto.key_files import MARKER_FILE, _write, write_log_key_files
from gateway.crypto.keyring import load_keyring, new_key_id
from gateway.crypto.log_key import LOG_KEY_FILE, LOG_PUBLIC_FILE, load_log_key
from gateway.crypto.signatures import AnySigningKey, key_id
from gateway.crypto.signers import Signer, generate_signer
from gateway.crypto.suites import suite
from gateway.crypto.token import TokenSigner
from gateway.errors import ConfigurationError

__all__ = ["LogRotation", "next_origin", "rotate_log_key", "write_settings"]

CLOSED_LOGS = "closed-logs"
_NUMBERED = re.compile(r"(.*)/([0-9]+)")


@dataclass(frozen=True)
class LogRotation:
    """What a log-key rotation did, and the settings of the new log."""

    generation: int
    closed: Checkpoint
    export: Path
    retired_public_key: Path
    new_key_id: str
    origin: str
    location: str
    previous_checkpoint: Path

    def settings(self) -> dict[str, str]:
        """The config settings of the new log (the same at every instance)."""
        return {"audit_origin": self.origin, "audit_location": self.location,
                "audit_previous_checkpoint": str(self.previous_checkpoint)}


def next_origin(origin: str) -> str:
    """The origin after ``origin``: ``…/2`` after ``…``, ``…/3`` after ``…/2``."""
    numbered = _NUMBERED.fullmatch(origin)
    if numbered:
        return f"{numbered.group(1)}/{int(numbered.group(2)) + 1}"
    return f"{origin}/2"


def rotate_log_key(config: Config, *, origin: str | None = None,
                   clock: Clock | None = None) -> LogRotation:
    """Close the configured log and make a new log key (see the module's docstring);
    raises ConfigurationError, TamperDetected or AuditUnavailable, and then nothing is
    closed and no key file changed."""
    clock = clock or SystemClock()
    keys_dir = config.keys_dir
    keyring = load_keyring(keys_dir)
    old_key = load_log_key(keys_dir / LOG_KEY_FILE, keyring.token)
    new_origin = origin or next_origin(config.audit_origin)
    check_key_name(new_origin)
    if new_origin == config.audit_origin:
        raise ConfigurationError("the new log needs another origin than the current one")
    generation = len(log_verify_keys(keys_dir))  # the current key and every retired one
    location = (f"audit-{generation + 1}.db" if config.database == "sqlite"
                else f"{config.database_schema}_log{generation + 1}")
    folder = config.data_dir / CLOSED_LOGS / str(generation)
    if folder.exists():
        raise ConfigurationError(f"{folder} exists: this log was closed already")
    audit, evidence = open_audit(config, old_key, clock=clock)
    try:
        new_key = _new_key(config, old_key)
        # The last entry and the closing are one transaction: an instance still serving
        # cannot append after it (its calls fail closed until it restarts).
        audit.close_with(closed_entry(new_origin, new_key.verify_key, clock.now()))
        final = evidence.checkpointer.checkpoint_now()
        folder.mkdir(parents=True)
        export = folder / "log.export"
        summary = export_range(audit, evidence.tree, final, export)
    finally:
        evidence.close()
        audit.close()
    retired = keys_dir / f"gateway.log.retired-{generation}.pub"
    _write(retired, (keys_dir / LOG_PUBLIC_FILE).read_bytes(), private=False)
    write_log_key_files(keys_dir, new_key, development=(keys_dir / MARKER_FILE).exists())
    if keyring.token is not None:
        keyring.token.close()
    return LogRotation(generation=generation, closed=summary.checkpoint, export=export,
                       retired_public_key=retired, new_key_id=key_id(new_key.verify_key),
                       origin=new_origin, location=location,
                       previous_checkpoint=export.with_name(export.name + ".checkpoint"))


def _new_key(config: Config, old_key: AnySigningKey) -> Signer:
    """A new log key: in the token when the old one is there, else of the suite."""
    if isinstance(old_key, TokenSigner):
        label = new_key_id("lk")
        old_key.token.create_log_key(label)
        return TokenSigner.load(old_key.token, label)
    return generate_signer(suite(config.suite).signature)


def write_settings(path: Path, settings: dict[str, str]) -> None:
    """Set string settings in the [gateway] table of a config file, in place: a line
    ``name = …`` is replaced, a missing one added after ``[gateway]``."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    try:
        table = next(i for i, line in enumerate(lines) if line.strip() == "[gateway]")
    except StopIteration:
        lines, table = ["[gateway]", *lines], 0
    for name, value in settings.items():
        text = f"{name} = {_toml_string(value)}"
        found = [i for i, line in enumerate(lines)
                 if re.match(rf"\s*{re.escape(name)}\s*=", line)]
        if found:
            lines[found[0]] = text
        else:
            lines.insert(table + 1, text)
    _write(Path(path), ("\n".join(lines) + "\n").encode("utf-8"), private=False)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
