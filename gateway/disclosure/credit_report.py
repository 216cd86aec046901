"""The signed personal credit report (个人信用报告) a person hands to an employer or a tender.

Through the citizen portal a person chooses categories; the gateway releases what the
person's own query releases for them, writes it as canonical JSON (UTF-8, sorted keys,
no insignificant whitespace) and signs ``DOMAIN + document`` with its Ed25519 log key.
The receiver checks it offline with nothing but the file and the gateway's public key
(`credgate report verify`). The document carries the person's ID number only masked,
with a salted SHA-256 digest, so a receiver who knows the applicant's ID can tie the
report to them without the file ever holding the number in clear.

This module imports only the standard library and the signature helpers, so a
receiver's verifier needs nothing of the gateway's keys, store or policy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.crypto.signatures import (
    AnySigningKey,
    AnyVerifyKey,
    key_id,
    sign,
    signature_algorithm,
    verify,
)
from gateway.errors import BadSignature

FORMAT = "credgate-personal-credit-report"
VERSION = 1
#: Domain separation: a report signature can never pass for a checkpoint's or a feed's.
DOMAIN = b"credgate personal credit report v1\n"
_FILE_KEYS = frozenset({"format", "document", "signature", "key_id"})
#: The algorithm of the signature (ed25519, or sm2 under the gm suite); a report from
#: before it was written down is Ed25519.
_ALGORITHM = "algorithm"


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    """A report whose signature verified: what it says, as plain data."""

    document: Mapping[str, Any]

    @property
    def categories(self) -> list[str]:
        """The categories the person chose."""
        return list(self.document["categories"])

    @property
    def records(self) -> list[Mapping[str, Any]]:
        """The records of those categories, as released to the person."""
        return list(self.document["records"])


def subject_digest(subject_id: str, salt: bytes) -> str:
    """The salted SHA-256 that ties a report to an ID number a receiver already knows."""
    return hashlib.sha256(salt + subject_id.encode("ascii")).hexdigest()


def report_document(*, report_id: str, issued_at: str, subject_id: str, masked_id: str,
                    categories: Sequence[str], records: Sequence[Mapping[str, Any]],
                    policy_version: str, salt: bytes | None = None) -> bytes:
    """The canonical bytes of a report (what the gateway signs)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    doc = {
        "format": FORMAT, "version": VERSION, "report_id": report_id,
        "issued_at": issued_at, "policy_version": policy_version,
        "subject": {"id_masked": masked_id, "salt": salt.hex(),
                    "digest": subject_digest(subject_id, salt)},
        "categories": sorted(categories),
        "records": list(records),
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def sign_report(document: bytes, key: AnySigningKey) -> bytes:
    """The report file: the document, the gateway's signature, its algorithm and its key
    id, as JSON."""
    signature = sign(key, DOMAIN + document)
    doc = {"format": FORMAT, "document": document.decode("utf-8"),
           "signature": base64.b64encode(signature).decode("ascii"),
           _ALGORITHM: signature_algorithm(key), "key_id": key_id(key.verify_key)}
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
            ).encode("utf-8")


def verify_report(report_file: bytes, key: AnyVerifyKey, *, subject_id: str = ""
                  ) -> VerifiedReport:
    """Check a report file's signature (and, given the ID, that it is this person's);
    raises BadSignature on any mismatch or malformed file."""
    try:
        outer = json.loads(report_file.decode("utf-8"))
        if not isinstance(outer, dict) or set(outer) - {_ALGORITHM} != _FILE_KEYS or \
                outer["format"] != FORMAT:
            raise BadSignature("not a credgate personal credit report")
        document = str(outer["document"]).encode("utf-8")
        signature = base64.b64decode(outer["signature"], validate=True)
        algorithm = str(outer.get(_ALGORITHM, "ed25519"))
    except (ValueError, UnicodeDecodeError, binascii.Error, TypeError):
        raise BadSignature("not a credgate personal credit report") from None
    verify(key, DOMAIN + document, signature, algorithm=algorithm)
    doc = json.loads(document)
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise BadSignature("unknown report format")
    chosen = set(doc["categories"])
    if any(r.get("category") not in chosen for r in doc["records"]):
        raise BadSignature("the report holds a category the person did not choose")
    if subject_id:
        subject = doc["subject"]
        expected = subject_digest(subject_id, bytes.fromhex(subject["salt"]))
        if not hmac.compare_digest(expected, subject["digest"]):
            raise BadSignature("the report is about another person")
    return VerifiedReport(document=doc)
