"""The export format of the audit log: what a regulator's offline verifier reads.

Format ``credgate-audit-export`` version 1. An export ``NAME`` is one file, UTF-8:

* **Line 1, the header**: one JSON object on one line::

      {"format": "credgate-audit-export", "version": 1,
       "origin": "credgate.example/audit-log",      the log (checkpoint origin, key name)
       "first_seq": 1, "last_seq": 1000000,          the entries that follow
       "prefix": ["<base64>", ...],                  peaks of the tree of size first_seq-1
       "checkpoints": ["<signed note>", ...],        signed checkpoints, smallest size first
       "consistency": [{"size": N, "proof": ["<base64>", ...]}, ...],
       "leaf_hashes": "NAME.leafhashes" or null,
       "exported_at": "2024-05-01T08:30:00Z"}

* **Lines 2, 3, ...**: the canonical bytes of seq ``first_seq``, ``first_seq + 1``, ...
  up to ``last_seq``, *exactly* as stored (``gateway.audit.entry``), each followed by
  one LF (0x0A). A canonical entry never contains a raw LF (JSON escapes control
  characters and the canonical form has no whitespace), so splitting at LF recovers the
  leaf bytes: the leaf hash of seq s is SHA-256(0x00 || line s - first_seq + 2).

What is in the header, and why nothing in it needs to be trusted:

* ``checkpoints`` are C2SP checkpoints signed by the gateway's log key, every stored one
  whose size lies in [first_seq - 1, last_seq] (evenly thinned to at most
  ``max_checkpoints``) plus the newest, which covers ``last_seq``. Their signatures are
  the only trust anchor; the verifier recomputes each root from the entries.
* ``prefix`` lets a range export that starts after seq 1 be verified: the compact range
  (RFC 9162 perfect subtree roots) of the first ``first_seq - 1`` leaves. With a wrong
  prefix no root matches, so it needs no trust. Empty for exports from seq 1.
* ``consistency`` holds, for each bundled checkpoint larger than ``last_seq``, the RFC
  9162 §2.1.4 proof from size ``last_seq`` to it, so a prefix export can be checked
  against a later signed tree head.
* ``leaf_hashes`` names a side file of the gateway's stored leaf hashes (32 raw bytes
  per entry, seq ``first_seq`` first). They are hints: the verifier uses them only to
  pinpoint the first bad entry, and only after they reproduce a signed root.

``NAME.checkpoint`` (beside the export) repeats the newest checkpoint as a plain signed
note, for regulators who keep checkpoints as they receive them.
"""

from __future__ import annotations

from pathlib import Path

FORMAT = "credgate-audit-export"
VERSION = 1
LEAF_HASHES_SUFFIX = ".leafhashes"
CHECKPOINT_SUFFIX = ".checkpoint"


def side_file(export_path: Path, suffix: str) -> Path:
    """The path of a side file of an export (``NAME.leafhashes``, ``NAME.checkpoint``)."""
    export_path = Path(export_path)
    return export_path.with_name(export_path.name + suffix)
