"""Regenerate the field-blob vectors: `python tests/vectors/fields/make_vectors.py`.

Each blob is built here from the layout documented in ``gateway/crypto/fields.py``
(suite code, key id, wrap nonce, wrapped data key, value nonce, sealed value; associated
data framed as 4-byte big-endian lengths), with the suites' raw AEADs and fixed keys and
nonces, not through ``FieldCipher``; so running this again writes the same bytes, and
tests/crypto/test_field_vectors.py checks that ``FieldCipher`` opens every blob and, given
the same data key and nonces, seals the very same bytes. The blobs already stored (and
any sealed under keys_example) are in this format: changing it breaks them.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from gateway.crypto import _primitives as p  # noqa: E402

OUT = HERE / "fields.json"
#: Suite name -> (code, key size, AEAD over a key).
SUITES = {"international": (0x01, 32, p.aead), "gm": (0x02, 16, p.sm4_gcm)}


def fixed(label: str, size: int) -> bytes:
    """Fixed test bytes (keys, nonces): SHA-256 of a label, cut to size. NEVER real keys."""
    return hashlib.sha256(b"credgate field vector " + label.encode()).digest()[:size]


def frame(*parts: bytes) -> bytes:
    """Each part preceded by its 4-byte big-endian length."""
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def blob(suite: str, key_id: str, master: bytes, context: tuple[str, str, str],
         value: bytes, data_key: bytes, wrap_nonce: bytes, value_nonce: bytes
         ) -> dict[str, str]:
    """A blob and the associated data of its two seals, per the documented layout."""
    code, _size, aead = SUITES[suite]
    header = bytes((code, len(key_id))) + key_id.encode("ascii")
    bound = frame(*(part.encode("utf-8", "surrogatepass") for part in context))
    wrap_aad = frame(b"credgate/field/v1/wrap", header) + bound
    value_aad = frame(b"credgate/field/v1/value") + bound
    wrapped = aead(master).encrypt(wrap_nonce, data_key, wrap_aad)
    sealed = aead(data_key).encrypt(value_nonce, value, value_aad)
    return {"wrap_aad": wrap_aad.hex(), "value_aad": value_aad.hex(),
            "blob": (header + wrap_nonce + wrapped + value_nonce + sealed).hex()}


def case(name: str, suite: str, context: tuple[str, str, str], *, text: str | None = None,
         data: bytes | None = None, key_id: str = "mk-vector") -> dict[str, Any]:
    """One vector: keys, context, value, the fixed randomness and the expected blob."""
    _code, size, _aead = SUITES[suite]
    master, data_key = fixed(f"{suite} master {key_id}", size), fixed(f"{name} data key", size)
    wrap_nonce, value_nonce = fixed(f"{name} wrap nonce", 12), fixed(f"{name} value nonce", 12)
    value = text.encode("utf-8") if text is not None else data or b""
    out: dict[str, Any] = {
        "name": name, "suite": suite, "key_id": key_id, "master_key": master.hex(),
        "record_id": context[0], "category": context[1], "field": context[2]}
    out.update({"text": text} if text is not None else {"bytes": value.hex()})
    out.update({"data_key": data_key.hex(), "wrap_nonce": wrap_nonce.hex(),
                "value_nonce": value_nonce.hex()})
    out.update(blob(suite, key_id, master, context, value, data_key, wrap_nonce,
                    value_nonce))
    return out


def rotated(of: dict[str, Any], key_id: str) -> dict[str, Any]:
    """The vector ``of`` re-wrapped under another master key: same data key and value
    ciphertext, a new header, wrap nonce and wrapped key."""
    name = f"{of['name']}-rotated"
    code, size, aead = SUITES[of["suite"]]
    master, wrap_nonce = fixed(f"{of['suite']} master {key_id}", size), fixed(
        f"{name} wrap nonce", 12)
    header = bytes((code, len(key_id))) + key_id.encode("ascii")
    bound = frame(*(of[k].encode("utf-8") for k in ("record_id", "category", "field")))
    wrap_aad = frame(b"credgate/field/v1/wrap", header) + bound
    wrapped = aead(master).encrypt(wrap_nonce, bytes.fromhex(of["data_key"]), wrap_aad)
    old = bytes.fromhex(of["blob"])
    value_part = old[2 + len(of["key_id"]) + 12 + size + 16:]
    return {**of, "name": name, "from_key_id": of["key_id"], "from_master_key":
            of["master_key"], "from_blob": of["blob"], "key_id": key_id,
            "master_key": master.hex(), "wrap_nonce": wrap_nonce.hex(),
            "wrap_aad": wrap_aad.hex(), "blob": (header + wrap_nonce + wrapped
                                                  + value_part).hex()}


def vectors() -> dict[str, Any]:
    """Every vector, as written to fields.json."""
    record = ("rec-3f1c2a9e-0000-4000-8000-000000000001", "dishonest_debtor", "case_number")
    text = case("record-field", "international", record, text="（2026）浙01执1号 欧阳明远")
    cases = [
        text,
        case("record-field-gm", "gm", record, text="（2026）浙01执1号 欧阳明远"),
        case("empty-text", "international", ("obj-1", "objection", "answer"), text=""),
        case("consent-artefact", "international", ("consent-7f3a", "consent", "artefact"),
             data=bytes(range(256))),
        case("blacklist-reason", "international",
             ("agency_a@2026-11-28T09:00:00Z", "blacklist", "reason"), text="违规查询"),
        rotated(text, "mk-vector-2"),
    ]
    return {
        "source": "tests/vectors/fields/make_vectors.py: the documented blob layout of "
                  "gateway/crypto/fields.py built with the raw AEADs (AES-256-GCM, SM4-GCM) "
                  "from fixed test keys and nonces (SHA-256 of labels); NEVER real keys",
        "vectors": cases,
    }


def main() -> None:
    """Write fields.json."""
    OUT.write_text(json.dumps(vectors(), ensure_ascii=False, indent=2) + "\n",
                   encoding="utf-8")


if __name__ == "__main__":
    main()
