"""A regulator's own copy of the audit log, kept up to date from the gateway's tiles.

The mirror folder holds ``log.jsonl`` (one canonical entry per line, seq 1 first),
``checkpoint`` (the newest checkpoint mirrored, signature checked) and ``frontier.json``
(the compact range of the mirrored entries). One update:

1. fetches the gateway's ``checkpoint`` and checks its signature with the log key;
2. refuses a checkpoint smaller than the mirrored one (ROLLED BACK) or of the same size
   with another root (FORK);
3. checks a consistency proof from the mirrored checkpoint to the new one;
4. fetches the entry bundles of the new entries, hashes them onto the mirrored frontier
   and requires the new checkpoint's root (so the entries are exactly the signed ones);
5. appends them, then stores the frontier and the checkpoint (a crash in between leaves
   extra lines that the next run drops: only checkpointed entries count);
6. as a witness (optional), cosigns the checkpoint it now holds and keeps that as
   ``checkpoint.cosigned`` (gateway.audit.witness).

It knows nothing of gRPC: the caller passes the two fetch functions.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.audit.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from gateway.audit.entry import AuditEntry, MalformedAuditEntry
from gateway.audit.merkle import CompactRange, ProofError, verify_consistency
from gateway.audit.tiles import TILE_WIDTH, Tile, unbundle
from gateway.audit.witness import Witness, cosign
from gateway.crypto.signatures import AnyVerifyKey
from gateway.errors import CredgateError, InvalidArgument

#: path -> bytes served at that tlog-tiles path.
FetchTile = Callable[[str], bytes]
#: (old size, new size) -> consistency proof hashes.
FetchProof = Callable[[int, int], Sequence[bytes]]


#: The witness's cosigned copy of the mirrored checkpoint, in the mirror folder.
COSIGNED = "checkpoint.cosigned"


class MirrorRefused(CredgateError):
    """The gateway's log is not an extension of the mirrored one: rolled back or forked."""

    status = "DATA_LOSS"


@dataclass(frozen=True)
class MirrorResult:
    """What one update did."""

    old_size: int
    new_size: int
    checkpoint: Checkpoint


class Mirror:
    """A mirror folder."""

    def __init__(self, folder: Path, verify_key: AnyVerifyKey,
                 origin: str | None = None, *, witness: Witness | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self._key = verify_key
        self._origin = origin
        self._witness = witness
        self._clock = clock

    @property
    def _log(self) -> Path:
        return self.folder / "log.jsonl"

    def local(self) -> tuple[Checkpoint | None, CompactRange]:
        """The mirrored checkpoint and frontier; raises MirrorRefused if they disagree."""
        path = self.folder / "checkpoint"
        if not path.exists():
            return None, CompactRange()
        cp = self._verify(path.read_text(encoding="utf-8"), "the mirrored checkpoint")
        state = json.loads((self.folder / "frontier.json").read_text(encoding="utf-8"))
        frontier = CompactRange(state["size"], [base64.b64decode(p) for p in state["peaks"]])
        if frontier.size != cp.size or frontier.root() != cp.root:
            raise MirrorRefused("the mirror's frontier does not match its checkpoint",
                                reason="mirror_damaged")
        return cp, frontier

    def update(self, fetch_tile: FetchTile, fetch_proof: FetchProof) -> MirrorResult:
        """Bring the mirror up to the gateway's newest checkpoint (and cosign it, as a
        witness); raises MirrorRefused."""
        result = self._update(fetch_tile, fetch_proof)
        if self._witness is not None:
            note = cosign(result.checkpoint, self._witness, int(self._clock()))
            self._write(COSIGNED, note.encode("utf-8"))
        return result

    def _update(self, fetch_tile: FetchTile, fetch_proof: FetchProof) -> MirrorResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        old, frontier = self.local()
        self._drop_unchecked_lines(frontier.size)
        # 1. The gateway's checkpoint, signature checked.
        new = self._verify(fetch_tile("checkpoint").decode("utf-8"), "the gateway's checkpoint")
        if old is not None and new.origin != old.origin:
            raise MirrorRefused("the gateway's checkpoint names another log", reason="origin")
        # 2. Never backwards, never sideways.
        if old is not None and new.size < old.size:
            raise MirrorRefused(
                f"ROLLED BACK: the gateway's newest checkpoint has {new.size} entries, the "
                f"mirror already holds {old.size} signed ones", reason="rolled_back")
        if old is not None and new.size == old.size:
            if new.root != old.root:
                raise MirrorRefused(f"FORK: two signed checkpoints of size {new.size} with "
                                    "different roots", reason="fork")
            return MirrorResult(old.size, new.size, old)
        # 3. Consistency proof from what we hold to the new checkpoint.
        if old is not None and old.size > 0:
            try:
                verify_consistency(old.size, new.size, old.root, new.root,
                                   list(fetch_proof(old.size, new.size)))
            except ProofError as exc:
                raise MirrorRefused(f"FORK: the gateway's log does not extend the mirrored "
                                    f"one ({exc.message})", reason="fork") from None
        # 4. The new entries, hashed onto our frontier, must give the signed root.
        entries = self._fetch_entries(fetch_tile, frontier.size, new.size)
        frontier.extend_entries(entries)
        if frontier.root() != new.root:
            raise MirrorRefused("the entries served do not give the signed root",
                                reason="entries_mismatch")
        # 5. Store: entries first, then the state that makes them count.
        with self._log.open("ab") as fh:
            fh.write(b"".join(e + b"\n" for e in entries))
            fh.flush()
            os.fsync(fh.fileno())
        self._write("frontier.json", json.dumps(
            {"size": frontier.size,
             "peaks": [base64.b64encode(p).decode() for p in frontier.peaks]}).encode())
        self._write("checkpoint", new.note.encode("utf-8"))
        return MirrorResult(0 if old is None else old.size, new.size, new)

    def _fetch_entries(self, fetch_tile: FetchTile, have: int, size: int) -> list[bytes]:
        out: list[bytes] = []
        index = have // TILE_WIDTH
        while index * TILE_WIDTH < size:
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            try:
                bundle = unbundle(fetch_tile(Tile(None, index, width).path))
            except InvalidArgument as exc:
                raise MirrorRefused(exc.message, reason="bad_bundle") from None
            if len(bundle) != width:
                raise MirrorRefused("an entry bundle has the wrong number of entries",
                                    reason="bad_bundle")
            skip = max(0, have - index * TILE_WIDTH)
            for data in bundle[skip:]:
                try:
                    AuditEntry.from_canonical(data)
                except MalformedAuditEntry as exc:
                    raise MirrorRefused(f"entry {have + len(out) + 1} is malformed: "
                                        f"{exc.message}", reason="bad_entry") from None
                out.append(data)
            index += 1
        return out

    def _verify(self, text: str, what: str) -> Checkpoint:
        try:
            cp = verify_checkpoint(text, self._key, self._origin)
        except CheckpointError as exc:
            raise MirrorRefused(f"{what} does not verify: {exc.message}",
                                reason="bad_checkpoint") from None
        return cp

    def _drop_unchecked_lines(self, size: int) -> None:
        """Cut log.jsonl back to the checkpointed entries (a crash may have left more)."""
        if not self._log.exists():
            return
        with self._log.open("rb") as fh:
            lines = fh.read().split(b"\n")[:-1]
        if len(lines) < size:
            raise MirrorRefused(f"the mirror's log.jsonl holds {len(lines)} entries, its "
                                f"checkpoint {size}", reason="mirror_damaged")
        if len(lines) > size:
            self._write("log.jsonl", b"".join(line + b"\n" for line in lines[:size]))

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.folder / f".{name}.tmp"
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / name)
