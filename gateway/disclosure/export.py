"""The disclosure export for the website: JSON and CSV files and a signed manifest.

The gateway renders the files itself and signs a manifest over their hashes, so the
website can check that what it received is exactly what the gateway released. The
manifest is canonical JSON (sorted keys, no whitespace, UTF-8)::

    {"counts": {"dishonest_debtor": 12, "total": 12}, "files": {"disclosure.csv":
     "<sha256 hex>", "disclosure.json": "<sha256 hex>"}, "format": "credgate-disclosure",
     "generated_at": "2026-11-28T09:00:00Z", "left_out": {"disputed": 1,
     "severity_not_public": 4}, "policy_version": "<hex>", "version": 1}

``left_out`` counts the records of the exported categories the gateway did not publish,
per reason (gateway.disclosure.left_out; 双公示: the website says how many and why),
never which ones; signed with the rest.

and its signature is Ed25519 by the gateway's log key over
``b"credgate/disclosure-manifest/v1\\n" + manifest bytes`` (the prefix keeps these
signatures apart from checkpoint signatures made with the same key).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from gateway.clock import rfc3339
from gateway.crypto.signatures import (
    AnySigningKey,
    AnyVerifyKey,
    sign,
    verify,
)
from gateway.disclosure.feed import PublishedRecord
from gateway.errors import BadSignature

FORMAT = "credgate-disclosure"
VERSION = 1
JSON_FILE = "disclosure.json"
CSV_FILE = "disclosure.csv"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
_DOMAIN = b"credgate/disclosure-manifest/v1\n"
_FIXED_COLUMNS = ("record_id", "category", "category_name_zh", "severity", "event_date",
                  "display_end", "provider", "provider_name_zh")


def render_files(records: Sequence[PublishedRecord]) -> dict[str, bytes]:
    """The JSON and CSV files for a set of published records."""
    as_json = json.dumps([r.to_json() for r in records], ensure_ascii=False, indent=1,
                         sort_keys=True).encode("utf-8") + b"\n"
    field_names = sorted({name for r in records for name in r.fields})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_FIXED_COLUMNS, *(f"field.{n}" for n in field_names)])
    for r in records:
        fixed = r.to_json()
        writer.writerow([*(str(fixed[c]) for c in _FIXED_COLUMNS),
                         *(r.fields.get(n, "") for n in field_names)])
    return {JSON_FILE: as_json, CSV_FILE: buffer.getvalue().encode("utf-8")}


def manifest_bytes(files: Mapping[str, bytes], records: Sequence[PublishedRecord], *,
                   policy_version: str, generated_at: datetime,
                   signature_algorithm: str = "ed25519",
                   left_out: Mapping[str, int] | None = None) -> bytes:
    """The canonical manifest for rendered files; it names the algorithm of the
    signature that will cover it (ed25519, or sm2 under the gm suite) and the counts of
    records left out, per reason."""
    counts = Counter(r.category for r in records)
    doc = {
        "format": FORMAT, "version": VERSION, "generated_at": rfc3339(generated_at),
        "policy_version": policy_version, "signature_algorithm": signature_algorithm,
        "counts": {**dict(sorted(counts.items())), "total": len(records)},
        "left_out": {reason: n for reason, n in sorted((left_out or {}).items()) if n},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def sign_manifest(manifest: bytes, key: AnySigningKey) -> bytes:
    """The gateway's signature on a manifest."""
    return sign(key, _DOMAIN + manifest)


def verify_manifest(manifest: bytes, signature: bytes, key: AnyVerifyKey,
                    files: Mapping[str, bytes]) -> dict[str, object]:
    """Check the signature (of the algorithm the manifest names) and every file hash;
    raises BadSignature on any mismatch."""
    try:
        doc = json.loads(manifest)
        algorithm = str(doc.get("signature_algorithm", "ed25519"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise BadSignature("the manifest is not JSON") from None
    verify(key, _DOMAIN + manifest, signature, algorithm=algorithm)
    listed = doc.get("files", {})
    if set(listed) != set(files):
        raise BadSignature("the files do not match the manifest")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise BadSignature(f"{name} does not match its hash in the manifest")
    return dict(doc)
