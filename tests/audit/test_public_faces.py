"""The offline verifier is a public face: importing it loads only the log's formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Entry, Merkle, checkpoint and export-format code, and what checking a signature needs.
ALLOWED = {
    "gateway", "gateway.errors", "gateway.clock",
    "gateway.audit", "gateway.audit.verifier", "gateway.audit.entry", "gateway.audit.merkle",
    "gateway.audit.checkpoint", "gateway.audit.export_format",
    "gateway.crypto", "gateway.crypto.signatures", "gateway.crypto.signers",
    "gateway.crypto._primitives",
}
#: The server's parts a regulator's verifier has no use for.
SERVER_LIBRARIES = {"sqlite3", "grpc", "casbin", "psycopg", "opentelemetry", "pkcs11"}


def loaded_after_import(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing one module."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_the_verifier_loads_only_the_log_formats() -> None:
    loaded = loaded_after_import("gateway.audit.verifier")
    ours = {m for m in loaded if m == "gateway" or m.startswith("gateway.")}
    assert "gateway.audit.verifier" in ours
    assert ours <= ALLOWED, sorted(ours - ALLOWED)
    assert not {m.split(".")[0] for m in loaded} & SERVER_LIBRARIES


def test_the_check_sees_a_heavier_import() -> None:
    """The export writer pulls in the server's SQLite log: the check would refuse it."""
    loaded = loaded_after_import("gateway.audit.export")
    assert {m for m in loaded if m.startswith("gateway.")} - ALLOWED
    assert "sqlite3" in loaded
