"""The store interface: what the gateway needs from a database, nothing more.

SQLite (gateway.records.sqlite_store) is the embedded default; a PostgreSQL
implementation provides the same methods so the domain code never changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.records.model import PutResult, StoredRecord


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """A registered consent artefact as stored (artefact bytes encrypted)."""

    consent_id: str
    issuer: str
    grantee: str
    purpose: str
    subject_index: str
    not_before: str
    not_after: str
    max_uses: int
    artefact_ciphertext: bytes
    signature: bytes
    issued_at: str
    uses: int = 0
    revoked_at: str | None = None
    revoke_reason: str = ""

    def __repr__(self) -> str:
        return f"ConsentRow(consent_id={self.consent_id!r}, grantee={self.grantee!r})"


class RecordStore(Protocol):
    """Persistence for records and consents."""

    def put_records(self, records: Sequence[StoredRecord]) -> list[PutResult]:
        """Store a batch atomically, idempotent per (provider, source_record_id).

        Raises AlreadyExists (naming the batch index) when a source id was stored
        before with different content; then nothing of the batch is stored.
        """
        ...

    def find_records(
        self, subject_indexes: Sequence[str], categories: Collection[str]
    ) -> list[StoredRecord]:
        """Records of a subject (by any of its blind indexes) in the given categories."""
        ...

    def put_consent(self, row: ConsentRow) -> bool:
        """Register a consent; False when the same artefact was registered before.

        Raises AlreadyExists when the id is taken by a different artefact.
        """
        ...

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        """The consent with this id, or None."""
        ...

    def revoke_consent(self, consent_id: str, *, at: str, reason: str) -> ConsentRow:
        """Mark a consent revoked (idempotent); raises NotFound."""
        ...

    def use_consent(self, consent_id: str) -> int:
        """Count one use atomically; returns the new count.

        Raises ConsentRefused when the consent is revoked or used up by then.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
