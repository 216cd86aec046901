"""The regulator's export of the audit log: the exact entry bytes plus signed checkpoints.

Writes the format of ``gateway.audit.export_format`` (described there) from the server's
log, tree and checkpoints; the offline verifier reads it without importing this module.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.audit.checkpoint import Checkpoint
from gateway.audit.checkpointer import Checkpointer, CheckpointStore
from gateway.audit.export_format import (
    CHECKPOINT_SUFFIX,
    FORMAT,
    LEAF_HASHES_SUFFIX,
    VERSION,
    side_file,
)
from gateway.audit.log import SqliteAuditLog
from gateway.audit.shared import SharedAuditLog
from gateway.audit.shared_evidence import SharedCheckpointer, SharedCheckpointStore, SharedTree
from gateway.audit.tree import AuditTree
from gateway.clock import rfc3339
from gateway.errors import InvalidArgument

_READ = 10_000


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_range`` wrote."""

    path: Path
    first_seq: int
    last_seq: int
    entries: int
    checkpoint: Checkpoint
    checkpoints: int


def export_range(log: SqliteAuditLog | SharedAuditLog, tree: AuditTree | SharedTree,
                 checkpoints: Checkpointer | CheckpointStore | SharedCheckpointer
                 | SharedCheckpointStore | Checkpoint, out_path: Path,
                 start: int = 1, end: int | None = None, *,
                 leaf_hashes: bool = True, max_checkpoints: int = 1024) -> ExportSummary:
    """Write entries start..end with their checkpoints; raises InvalidArgument for a bad range.

    With a ``Checkpointer`` a checkpoint of the current tree is signed first and every
    stored checkpoint in the range is bundled; with a ``CheckpointStore`` (forensics on a
    log that fails its self-check: nothing new is signed) the newest stored checkpoint is
    the anchor and the stored ones are bundled; with a single ``Checkpoint`` only it is.
    ``end`` defaults to the newest checkpoint's size and may not exceed it: entries no
    signed checkpoint covers cannot be verified.
    """
    store: CheckpointStore | SharedCheckpointStore | None = None
    if isinstance(checkpoints, Checkpointer | SharedCheckpointer):
        anchor, store = checkpoints.checkpoint_now(), checkpoints.store
    elif isinstance(checkpoints, CheckpointStore | SharedCheckpointStore):
        latest, store = checkpoints.latest(), checkpoints
        if latest is None:
            raise InvalidArgument("no signed checkpoint to export against")
        anchor = latest
    else:
        anchor = checkpoints
    end = anchor.size if end is None else end
    if not 1 <= start <= end + 1 or end > anchor.size or end > tree.size():
        raise InvalidArgument(
            f"export range must satisfy 1 <= start <= end + 1 and end <= {anchor.size} "
            "(the newest signed checkpoint)")
    bundled = [] if store is None else [
        c for c in store.between(start - 1, end, limit=max(1, max_checkpoints - 1))
        if c.size != anchor.size]
    bundled = sorted([*bundled, anchor], key=lambda c: c.size)
    out_path = Path(out_path)
    hints = side_file(out_path, LEAF_HASHES_SUFFIX)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "origin": anchor.origin,
        "first_seq": start,
        "last_seq": end,
        "prefix": [_b64(h) for h in tree.frontier(start - 1)],
        "checkpoints": [c.note for c in bundled],
        "consistency": [{"size": c.size, "proof": [_b64(h) for h in
                                                   tree.consistency_proof(end, c.size)]}
                        for c in bundled if c.size > end],
        "leaf_hashes": hints.name if leaf_hashes else None,
        "exported_at": rfc3339(datetime.now(UTC)),
    }
    written = 0
    with out_path.open("wb") as out:
        out.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode())
        out.write(b"\n")
        seq = start
        while seq <= end:
            rows = log.read_raw(start=seq, limit=min(_READ, end - seq + 1))
            if not rows:
                break  # the log is shorter than the tree: the verifier will say so
            out.write(b"\n".join(data for _, data in rows))
            out.write(b"\n")
            written += len(rows)
            seq = rows[-1][0] + 1
    if leaf_hashes:
        hints.write_bytes(tree.leaf_hashes(start - 1, end))
    side_file(out_path, CHECKPOINT_SUFFIX).write_text(anchor.note, encoding="utf-8")
    return ExportSummary(path=out_path, first_seq=start, last_seq=end, entries=written,
                         checkpoint=anchor, checkpoints=len(bundled))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
