"""Benchmark: verify a regulator's export of a large audit log, against just reading it.

Run ``python -m bench.audit_verify [--entries 1000000] [--dir DIR]``. It builds a real
audit file (``SqliteAuditLog`` with the ``AuditTree`` hook and a checkpoint every
``--checkpoint-every`` entries, signed with keys_example/gateway.log.key), exports it
and times:

* the baseline: read the export in blocks, split lines and SHA-256 each line (the least
  any verifier must do);
* ``verify_export`` on the whole export (entries/s);
* the gateway's start-up self-check (``open_verified_tree``) on the same file;
* ``AuditTree`` answers: root of a random size, inclusion and consistency proofs.

Writing the log dominates the set-up time; it is reported but not the point.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

from bench.audit_append import make_entry
from gateway.audit.checkpointer import AuditEvidence, open_verified_tree
from gateway.audit.export import export_range
from gateway.audit.log import SqliteAuditLog
from gateway.audit.merkle import verify_consistency, verify_inclusion
from gateway.audit.verifier import verify_export
from gateway.config import REPO_ROOT
from gateway.crypto.signatures import load_signing_key

KEY = REPO_ROOT / "keys_example" / "gateway.log.key"


def read_and_hash(path: Path) -> tuple[int, float]:
    """The baseline: entries read and hashed, and the seconds it took."""
    began = time.perf_counter()
    sha, n, rest = hashlib.sha256, 0, b""
    with path.open("rb") as f:
        f.readline()
        while block := f.read(1 << 22):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                sha(b"\x00" + line).digest()
            n += len(lines)
    return n, time.perf_counter() - began


def build(path: Path, entries: int, every: int) -> AuditEvidence:
    """A log of ``entries`` synthetic entries with a checkpoint every ``every``."""
    evidence = AuditEvidence.open(path, load_signing_key(KEY), interval=None)
    log = SqliteAuditLog(path, on_commit=evidence.tree.on_commit)
    began = time.perf_counter()
    batch = 10_000
    for first in range(0, entries, batch):
        log.append_many(make_entry(n) for n in range(first, min(entries, first + batch)))
        if (first + batch) % every == 0:
            evidence.checkpointer.checkpoint_now()
    log.close()
    print(f"built log      {entries:>10,} entries in {time.perf_counter() - began:6.1f} s "
          f"(entries built, appended, tree hook; {path.stat().st_size / 2**20:,.0f} MB)")
    return evidence


def main() -> None:
    """Build, export, verify, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "audit.db"
        evidence = build(path, args.entries, args.checkpoint_every)
        log = SqliteAuditLog(path, on_commit=evidence.tree.on_commit)
        out = Path(tmp) / "export.jsonl"
        began = time.perf_counter()
        summary = export_range(log, evidence.tree, evidence.checkpointer, out)
        log.close()
        print(f"export         {summary.entries:>10,} entries in "
              f"{time.perf_counter() - began:6.2f} s ({out.stat().st_size / 2**20:,.0f} MB, "
              f"{summary.checkpoints} checkpoints)")

        n, base = read_and_hash(out)
        print(f"read + hash    {n:>10,} entries in {base:6.2f} s = {n / base:>10,.0f} entries/s")
        key = load_signing_key(KEY).verify_key
        began = time.perf_counter()
        report = verify_export(out, None, key)
        took = time.perf_counter() - began
        assert report.ok, report
        print(f"verify_export  {report.entries:>10,} entries in {took:6.2f} s = "
              f"{report.entries / took:>10,.0f} entries/s ({len(report.checked_sizes)} "
              f"checkpoint roots compared, {took / base:.2f}x the baseline)")

        tree = evidence.tree
        size = tree.size()
        rng = random.Random(1)
        sizes = [rng.randrange(1, size + 1) for _ in range(1000)]
        began = time.perf_counter()
        for s in sizes:
            tree.root(s)
        per_root = (time.perf_counter() - began) / len(sizes)
        began = time.perf_counter()
        for s in sizes:
            i = rng.randrange(s)
            verify_inclusion(tree.leaf_hashes(i, i + 1), i, s, tree.inclusion_proof(i, s),
                             tree.root(s))
            verify_consistency(s, size, tree.root(s), tree.root(), tree.consistency_proof(s))
        per_proof = (time.perf_counter() - began) / len(sizes)
        print(f"tree answers   root(random size) {per_root * 1e6:,.0f} us; inclusion + "
              f"consistency proof made and verified {per_proof * 1e6:,.0f} us")
        evidence.close()

        began = time.perf_counter()
        reopened = open_verified_tree(path, key)
        print(f"self-check     {reopened.size():>10,} entries in "
              f"{time.perf_counter() - began:6.2f} s (rehash every row, compare leaf hashes, "
              "all checkpoint roots)")
        reopened.close()


if __name__ == "__main__":
    main()
