"""The protect step: decrypt only what policy releases, mask the rest, drop what is not needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.crypto import decrypt_field
from gateway.crypto.keyring import Keyring
from gateway.disclosure.masking import mask_value
from gateway.records.catalogue import Category
from gateway.records.model import StoredRecord

CLEAR = "clear"
MASKED = "masked"
WITHHELD = "withheld"


@dataclass(frozen=True, slots=True)
class ReleasedField:
    """A field value as released to the caller."""

    name: str
    value: str
    disclosure: str  # CLEAR or MASKED

    def __repr__(self) -> str:
        return f"ReleasedField(name={self.name!r}, disclosure={self.disclosure!r})"


@dataclass(frozen=True, slots=True)
class ReleasedRecord:
    """A record as released: only released fields, the others named as withheld."""

    record_id: str
    category: str
    severity: str
    event_date: str
    provider: str
    display_end: str
    fields: tuple[ReleasedField, ...]
    withheld_fields: tuple[str, ...]

    @property
    def released_field_names(self) -> tuple[str, ...]:
        """Object names ("category.field") of the released fields, for the audit."""
        return tuple(f"{self.category}.{f.name}" for f in self.fields)


def protect_record(
    record: StoredRecord,
    *,
    category: Category,
    access: Mapping[str, str],
    keyring: Keyring,
) -> ReleasedRecord:
    """Release a stored record at the access level per field; unknown levels withhold.

    Raises DecryptionError when a released field cannot be decrypted (never returns
    ciphertext or a partial record).
    """
    released: list[ReleasedField] = []
    withheld: list[str] = []
    for name, stored in record.fields.items():
        level = access.get(name, WITHHELD)
        spec = category.fields.get(name)
        if spec is None or level not in (CLEAR, MASKED):
            withheld.append(name)
            continue
        if stored.ciphertext is not None:
            value = decrypt_field(keyring, record_id=record.record_id, category=record.category,
                                  field=name, blob=stored.ciphertext)
        else:
            value = stored.plain or ""
        if level == MASKED:
            value = mask_value(spec.type, value)
        released.append(ReleasedField(name=name, value=value, disclosure=level))
    return ReleasedRecord(
        record_id=record.record_id,
        category=record.category,
        severity=record.severity,
        event_date=record.event_date.isoformat(),
        provider=record.provider,
        display_end=record.display_end.isoformat() if record.display_end else "",
        fields=tuple(released),
        withheld_fields=tuple(sorted(withheld)),
    )
