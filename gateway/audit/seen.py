"""The newest checkpoint this instance has seen, kept in its own data directory.

A database restored from a backup, or a failover to a replica that lacked the last
commits, holds a log shorter than a checkpoint already signed and handed out. Appending
to it would reuse sequence numbers that a regulator has seen naming other entries: a
fork. So every instance remembers the newest verified checkpoint it has seen, outside
the database, and refuses to append to a database that is behind it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from gateway.audit.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from gateway.crypto.signatures import AnyVerifyKey
from gateway.errors import AuditUnavailable, ConfigurationError


class SeenCheckpoint:
    """The file ``audit-seen-checkpoint`` (a signed note) and its size in memory."""

    def __init__(self, path: Path, verify_key: AnyVerifyKey, origin: str) -> None:
        self.path = Path(path)
        self._key, self._origin = verify_key, origin
        self._lock = threading.Lock()
        self.checkpoint: Checkpoint | None = self._load()

    @property
    def size(self) -> int:
        """The size of the newest checkpoint seen (0 when none)."""
        cp = self.checkpoint
        return 0 if cp is None else cp.size

    def refuse_if_ahead(self, db_size: int, where: str) -> None:
        """Raise LogBehind when the database has fewer entries than a seen checkpoint."""
        seen = self.size
        if db_size < seen:
            from gateway.audit.shared import LogBehind

            raise LogBehind(
                f"audit database {where} is BEHIND: it holds {db_size} entries but this "
                f"instance has seen a signed checkpoint of {seen}. It was restored from a "
                "backup or failed over to a replica that lacks commits. Appends are refused. "
                "Bring the missing commits back (promote the standby that has them, or "
                "restore a newer backup); never delete "
                f"{self.path.name} to get past this", reason="database_behind")

    def offer(self, cp: Checkpoint) -> None:
        """Remember a verified checkpoint if it is newer than the one seen."""
        if cp.origin != self._origin or cp.size <= self.size:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, _file_lock(self.path):
            on_disk = self._load()
            if on_disk is not None and on_disk.size >= cp.size:
                self.checkpoint = on_disk
                return
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(cp.note)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            self.checkpoint = cp

    def _load(self) -> Checkpoint | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditUnavailable("the seen checkpoint cannot be read",
                                   reason="audit_open_failed", detail=str(exc)) from None
        try:
            return verify_checkpoint(text, self._key, self._origin)
        except CheckpointError:
            raise ConfigurationError(
                f"{self.path} does not hold a checkpoint of {self._origin!r} signed by this "
                "log key; if the log was deliberately restarted under a new origin, move the "
                "file away") from None


class _file_lock:
    """An exclusive flock on a side file, so worker processes write one at a time."""

    def __init__(self, path: Path) -> None:
        self._path = path.with_suffix(".lock")

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
