"""The offline verifier: an export (``gateway.audit.export_format``) and a public key, nothing else.

Steps (marked in ``verify_export``):

1. Read the header; a broken file raises ``ExportError`` (the CLI's exit 2).
2. Check every checkpoint: the one the regulator supplies (``checkpoint_text``), the one
   they kept from before (``previous_checkpoint``) and those bundled in the export; each
   must carry a valid signature of (origin, log key). Two signed checkpoints of the same
   size with different roots prove a forked log.
3. Recompute the tree from the entry lines (RFC 9162 leaf hashes, compact range) and
   compare the root at every checkpoint size in the export's range.
4. For checkpoints beyond the export's end, check the bundled consistency proof from
   the recomputed root at ``last_seq`` (RFC 9162 §2.1.4.2).
5. On failure, localise the first bad entry.

Because the previous checkpoint is compared with a root recomputed from the same leaves
as the newest one, a passing report also proves the two are consistent (the old tree
is a prefix of the new one).

What "the first bad entry" means. The signed roots say only that *something* in the
first N entries differs. Let G be the largest checkpoint size that still matches (or
``first_seq - 1``) and B the smallest that does not. Then:

* ``located="exact"``: the gateway's stored leaf hashes (``NAME.leafhashes``), continued
  from the verified state at G, reproduce the signed root at B, so they are what was
  signed. ``first_bad_seq`` is then the lowest seq whose export line does not hash to
  its signed leaf hash, or the first seq missing from the export: the first place where
  the export departs from the signed history (a changed, inserted, deleted or swapped
  entry shows up as its first position).
* ``located="interval"``: without trustworthy leaf hashes, the first difference is
  somewhere in ``bad_range`` = (G + 1, B). ``first_bad_seq`` is the first entry in that
  range that is not a canonical entry (``AuditEntry.from_canonical``), if there is one,
  else None. Checkpoints signed more often make the interval shorter.

Lines after ``last_seq``, or entries after the newest checkpoint, are named ``exact``
too: the first of them is the first entry nothing signed vouches for.

What a passing report does not prove. Bundled checkpoints come from the gateway at
export time; they bind the entries to the gateway's key but cannot show that nothing
newer exists, nor that a key holder did not rewrite history and sign it again. A
regulator closes both gaps by keeping the checkpoints it receives over time (or getting
one from elsewhere) and passing them as ``checkpoint_text`` / ``previous_checkpoint``.

Speed: entry lines are read in large blocks and hashed in one tight loop
(``CompactRange.extend_entries``); entries are not parsed unless localising a failure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gateway.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    parse_checkpoint,
    verify_checkpoint,
)
from gateway.audit.entry import AuditEntry, MalformedAuditEntry
from gateway.audit.export_format import FORMAT, VERSION
from gateway.audit.merkle import HASH_SIZE, CompactRange, ProofError, leaf_hash, verify_consistency
from gateway.crypto.signatures import AnyVerifyKey
from gateway.errors import CredgateError

Progress = Callable[[int, int], None]
_BLOCK = 1 << 22
_MAX_HEADER = 1 << 26


class ExportError(CredgateError):
    """The export or a supplied checkpoint is unreadable or malformed (not a verdict)."""

    status = "INVALID_ARGUMENT"


class _Failed(Exception):
    """Internal: verification failed at checkpoint ``size``, or at seq ``first_bad``."""

    def __init__(self, message: str, *, size: int | None = None,
                 first_bad: int | None = None) -> None:
        super().__init__(message)
        self.message, self.size, self.first_bad = message, size, first_bad


@dataclass(frozen=True)
class VerifyReport:
    """The verdict on an export; ``ok`` False names what failed and where."""

    ok: bool
    origin: str
    first_seq: int
    last_seq: int
    entries: int
    checkpoint_size: int | None
    checked_sizes: tuple[int, ...] = ()
    previous_size: int | None = None
    #: With party keys: (request signatures verified, signed entries without a known key).
    signatures: tuple[int, int] | None = None
    failure: str | None = None
    first_bad_seq: int | None = None
    bad_range: tuple[int, int] | None = None
    located: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        out = asdict(self)
        out["checked_sizes"] = list(self.checked_sizes)
        out["bad_range"] = list(self.bad_range) if self.bad_range else None
        return out


def _lines(f: BinaryIO) -> Iterator[list[bytes]]:
    """Entry lines in blocks; a last line without LF is still yielded."""
    rest = b""
    while block := f.read(_BLOCK):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield lines
    if rest:
        yield [rest]


def _read_header(f: BinaryIO) -> dict[str, Any]:
    line = f.readline(_MAX_HEADER)
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExportError("export header is not a JSON line", reason="bad_header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ExportError("not a credgate audit export", reason="bad_header")
    if header.get("version") != VERSION:
        raise ExportError("unsupported export version", reason="bad_header")
    first, last = header.get("first_seq"), header.get("last_seq")
    if type(first) is not int or type(last) is not int or not 1 <= first <= last + 1:
        raise ExportError("export header has a bad seq range", reason="bad_header")
    for name, kind in (("origin", str), ("prefix", list), ("checkpoints", list),
                       ("consistency", list)):
        if not isinstance(header.get(name), kind):
            raise ExportError(f"export header lacks {name}", reason="bad_header")
    return header


def _hashes(values: Any) -> list[bytes]:
    try:
        out = [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, ValueError, TypeError):
        raise ExportError("export header has a bad hash", reason="bad_header") from None
    if any(len(h) != HASH_SIZE for h in out):
        raise ExportError("export header has a bad hash", reason="bad_header")
    return out


def verify_export(export_path: Path, checkpoint_text: str | None,
                  verify_key: AnyVerifyKey, *, previous_checkpoint: str | None = None,
                  origin: str | None = None, progress: Progress | None = None,
                  party_keys: Mapping[str, Any] | None = None) -> VerifyReport:
    """Verify an export against signed checkpoints; raises ExportError only for broken input.

    With ``party_keys`` (the parties' registered public keys) every entry that records a
    signed request must also carry a signature that verifies under its requester's key.
    """
    export_path = Path(export_path)
    try:
        f = export_path.open("rb")
    except OSError as exc:
        raise ExportError(f"export cannot be read: {exc.strerror}", reason="unreadable") from None
    with f:
        # 1. Header.
        header = _read_header(f)
        first, last = header["first_seq"], header["last_seq"]
        origin = origin or header["origin"]
        try:
            base = CompactRange(first - 1, _hashes(header["prefix"]))
        except ProofError:
            raise ExportError("export prefix does not fit first_seq", reason="bad_header") from None
        proofs = {}
        for item in header["consistency"]:
            if not isinstance(item, dict) or type(item.get("size")) is not int:
                raise ExportError("export header has a bad consistency proof", reason="bad_header")
            proofs[item["size"]] = _hashes(item.get("proof", []))
        report: dict[str, Any] = dict(origin=origin, first_seq=first, last_seq=first - 1,
                                      entries=0, checkpoint_size=None)
        state: _Scan | None = None
        roots: dict[int, bytes] = {}
        try:
            # 2. Checkpoints.
            roots, anchor, previous = _check_checkpoints(
                header, checkpoint_text, previous_checkpoint, verify_key, origin)
            report.update(checkpoint_size=anchor.size,
                          previous_size=previous.size if previous else None)
            if previous is not None and previous.size > anchor.size:
                # The log's newest signature covers less than one already handed out: the
                # entries after it were undone (a restore, a failover to a stale replica).
                raise _Failed(f"ROLLED BACK: the log's newest signed checkpoint (size "
                              f"{anchor.size}) is older than the one you kept (size "
                              f"{previous.size}): {previous.size - anchor.size} signed "
                              "entries are gone", first_bad=anchor.size + 1)
            _check_coverage(anchor, previous, first, last, proofs)
            # 3. Recompute the tree and compare at every checkpoint size in range.
            state = _Scan(base, roots, first, last)
            state.run(f, progress)
            report.update(last_seq=first - 1 + state.count, entries=state.count,
                          checked_sizes=tuple(state.checked))
            if state.failure is not None:
                raise state.failure
            if state.count > last - first + 1:
                raise _Failed(f"export holds entries after its last seq {last}",
                              first_bad=last + 1)
            top = max(roots)
            if top < last:
                raise _Failed(f"entries after seq {top} are not covered by any signed "
                              "checkpoint", first_bad=top + 1)
            # 4. Checkpoints beyond the export: consistency proofs from the root at last_seq.
            for size in sorted(s for s in roots if s > last):
                if state.count < last - first + 1:
                    raise _Failed(f"CUT SHORT: the export ends at seq "
                                  f"{first - 1 + state.count}, its header says {last}",
                                  size=size)
                try:
                    verify_consistency(last, size, state.range.root(), roots[size],
                                       proofs.get(size, []))
                except ProofError as exc:
                    raise _Failed(f"entries do not match signed checkpoint size {size} "
                                  f"({exc.message})", size=size) from None
                state.checked.append(size)
            report["checked_sizes"] = tuple(state.checked)
            if party_keys is not None:
                # 5. The callers' request signatures, now that the entries are authentic.
                report["signatures"] = _check_signatures(export_path, first, party_keys)
            return VerifyReport(ok=True, **report)
        except _Failed as failure:
            # 6. Localise the first bad entry.
            located = _localise(export_path, header, failure, state, roots, proofs)
            return VerifyReport(ok=False, failure=failure.message, **report, **located)


def _check_signatures(path: Path, first: int, keys: Mapping[str, Any]) -> tuple[int, int]:
    """(verified, without a known key); raises _Failed at the first bad signature."""
    from gateway.audit.signatures import EntrySignatureError, verify_entry_signatures

    def entries() -> Iterator[tuple[int, AuditEntry]]:
        for seq, line in _entries(path, first, 2**62, first):
            if line is None:
                return
            yield seq, AuditEntry.from_canonical(line)

    try:
        return verify_entry_signatures(entries(), keys)
    except EntrySignatureError as exc:
        raise _Failed(exc.message, first_bad=exc.seq) from None


def _check_coverage(anchor: Checkpoint, previous: Checkpoint | None, first: int, last: int,
                    proofs: dict[int, list[bytes]]) -> None:
    """The supplied checkpoints must be checkable with this export; raises ExportError."""
    for cp, what in ((anchor, "checkpoint"), (previous, "previous checkpoint")):
        if cp is None:
            continue
        if cp.size < first - 1:
            raise ExportError(f"the {what} (size {cp.size}) is older than the export's start; "
                              f"ask for an export from seq {cp.size + 1} or earlier",
                              reason="not_covered")
        if cp.size > last and cp.size not in proofs:
            raise ExportError(f"the {what} (size {cp.size}) is newer than the export "
                              f"(last seq {last}); ask for a newer export", reason="not_covered")


def _check_checkpoints(header: dict[str, Any], given: str | None, previous_text: str | None,
                       key: AnyVerifyKey, origin: str
                       ) -> tuple[dict[int, bytes], Checkpoint, Checkpoint | None]:
    """Verify every checkpoint; returns size -> root, the anchor and the previous one."""
    def check(text: str, what: str, supplied: bool) -> Checkpoint:
        if supplied:
            try:
                parse_checkpoint(text)
            except CheckpointError as exc:
                raise ExportError(f"the {what} is malformed: {exc.message}",
                                  reason="bad_checkpoint") from None
        try:
            cp = verify_checkpoint(text, key, origin)
        except CheckpointError as exc:
            raise _Failed(f"the {what} does not verify: {exc.message}") from None
        if cp.origin != origin:
            raise _Failed(f"the {what} is for log {cp.origin!r}, not {origin!r}")
        return cp

    bundled = []
    for i, text in enumerate(header["checkpoints"]):
        if not isinstance(text, str):
            raise ExportError("export header has a bad checkpoint", reason="bad_header")
        bundled.append(check(text, f"bundled checkpoint #{i + 1}", False))
    anchor = check(given, "checkpoint", True) if given is not None else None
    previous = check(previous_text, "previous checkpoint", True) if previous_text else None
    if anchor is None:
        if not bundled:
            raise ExportError("no checkpoint to verify against", reason="no_checkpoint")
        anchor = max(bundled, key=lambda c: c.size)
    roots: dict[int, bytes] = {}
    for cp in [*bundled, anchor, *([previous] if previous else [])]:
        if roots.setdefault(cp.size, cp.root) != cp.root:
            raise _Failed(f"two signed checkpoints of size {cp.size} disagree: the log forked")
    return roots, anchor, previous


class _Scan:
    """Step 3: stream the entry lines into a compact range, checking each checkpoint size."""

    def __init__(self, base: CompactRange, roots: dict[int, bytes], first: int, last: int):
        self.range = base
        self.roots = roots
        self.targets = sorted(s for s in roots if first - 1 <= s)
        self.first, self.last, self.total = first, last, last - first + 1
        self.count = 0
        self.checked: list[int] = []
        self.good = first - 1  # largest matching size so far
        self.good_range = base.copy()
        self.failure: _Failed | None = None

    def _compare(self) -> None:
        size = self.range.size
        if self.range.root() == self.roots[size]:
            self.checked.append(size)
            self.good, self.good_range = size, self.range.copy()
        elif size == self.first - 1:
            self.failure = _Failed(f"the export's prefix does not match signed checkpoint "
                                   f"size {size}", size=size)
        else:
            self.failure = _Failed(f"entries do not match signed checkpoint size {size}",
                                   size=size)

    def run(self, f: BinaryIO, progress: Progress | None) -> None:
        targets, t = self.targets, 0
        while t < len(targets) and targets[t] == self.range.size:
            self._compare()
            t += 1
        for lines in _lines(f):
            self.count += len(lines)
            i = 0
            while self.failure is None and i < len(lines):
                nxt = targets[t] if t < len(targets) else None
                take = len(lines) - i if nxt is None else min(len(lines) - i,
                                                              nxt - self.range.size)
                self.range.extend_entries(lines[i:i + take])
                i += take
                if nxt is not None and self.range.size == nxt:
                    self._compare()
                    t += 1
            if progress is not None:
                progress(self.count, self.total)
        if self.failure is None and t < len(targets) and targets[t] <= self.last:
            # A checkpoint inside the header's range was never reached: entries are missing.
            self.failure = _Failed(f"CUT SHORT: the export ends at seq {self.range.size}, "
                                   f"before signed checkpoint size {targets[t]}",
                                   size=targets[t])


def _localise(path: Path, header: dict[str, Any], failure: _Failed, state: _Scan | None,
              roots: dict[int, bytes], proofs: dict[int, list[bytes]]) -> dict[str, Any]:
    """Step 5: the first bad entry, exactly if authentic leaf hashes allow, else an interval."""
    if failure.first_bad is not None:
        seq = failure.first_bad
        return {"first_bad_seq": seq, "bad_range": (seq, seq), "located": "exact"}
    first, last = header["first_seq"], header["last_seq"]
    if state is None or failure.size is None or failure.size < first:
        return {}  # a checkpoint or the range export's prefix failed: no entry to name
    good, bad = state.good, failure.size
    hi = min(bad, last)
    hints = _read_hints(path, header, good - (first - 1), hi - good)
    if hints is not None:
        trial = state.good_range.copy()
        trial.extend(hints)
        try:
            if bad <= last:
                authentic = trial.root() == roots[bad]
            else:
                verify_consistency(last, bad, trial.root(), roots[bad], proofs.get(bad, []))
                authentic = True
        except ProofError:
            authentic = False
        if authentic:
            for seq, line in _entries(path, good + 1, hi, first):
                if line is None or leaf_hash(line) != hints[seq - good - 1]:
                    return {"first_bad_seq": seq, "bad_range": (seq, seq), "located": "exact"}
    seq_bad = None
    for seq, line in _entries(path, good + 1, hi, first):
        if line is None:
            seq_bad = seq
            break
        try:
            AuditEntry.from_canonical(line)
        except MalformedAuditEntry:
            seq_bad = seq
            break
    return {"first_bad_seq": seq_bad, "bad_range": (good + 1, bad), "located": "interval"}


def _read_hints(path: Path, header: dict[str, Any], skip: int, count: int) -> list[bytes] | None:
    name = header.get("leaf_hashes")
    if not isinstance(name, str) or count <= 0:
        return None
    hint_path = path.with_name(Path(name).name)  # only beside the export
    try:
        with hint_path.open("rb") as f:
            f.seek(skip * HASH_SIZE)
            blob = f.read(count * HASH_SIZE)
    except OSError:
        return None
    if len(blob) != count * HASH_SIZE:
        return None
    return [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def _entries(path: Path, lo: int, hi: int, first: int) -> Iterator[tuple[int, bytes | None]]:
    """(seq, line) for lo <= seq <= hi; line None for the first seq missing from the export."""
    seq = first
    with path.open("rb") as f:
        f.readline(_MAX_HEADER)
        for lines in _lines(f):
            for line in lines:
                if seq > hi:
                    return
                if seq >= lo:
                    yield seq, line
                seq += 1
    if lo <= seq <= hi:
        yield seq, None
