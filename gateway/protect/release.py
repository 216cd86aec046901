"""The protect step: decrypt only what policy releases, mask the rest, drop what is not needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.catalogue.registry import NAME_TYPES, Category, Party
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.protect.profiles import MaskContext, MaskingProfiles
from gateway.records.model import StoredRecord

CLEAR = "clear"
MASKED = "masked"
WITHHELD = "withheld"

# Which masking profile (policies/masking.toml) applies to a party, by its kind. A kind
# not listed gets the public profile, the strictest one.
AUDIENCE_BY_KIND = {
    "department": "department",
    "financial": "department",
    "regulator": "department",
    "credit_agency": "credit_agency",
    "portal": "self",
    "website": "public",
    "platform": "department",
}


def audience_of(party: Party) -> str:
    """The masking audience of a party."""
    return AUDIENCE_BY_KIND.get(party.kind, "public")


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
    cipher: FieldCipher,
    profiles: MaskingProfiles,
    audience: str,
) -> ReleasedRecord:
    """Release a stored record at the access level per field; unknown levels withhold.

    A "masked" field goes through the audience's masking profile; a field the profile
    drops is withheld. Raises DecryptionError when a released field cannot be decrypted
    (never returns ciphertext or a partial record).
    """
    released: list[ReleasedField] = []
    withheld: list[str] = []
    names: tuple[str, ...] | None = None  # the record's person names, read when needed
    for name in record.fields:
        level = access.get(name, WITHHELD)
        spec = category.fields.get(name)
        if spec is None or level not in (CLEAR, MASKED):
            withheld.append(name)
            continue
        value = field_value(record, name, cipher)
        if level == MASKED:
            field = f"{record.category}.{name}"
            step = profiles.step(audience, spec.type, field)
            if step is not None and step[1] and names is None:
                # The scan operator masks the person's name inside free text: it needs it.
                names = person_names(record, category, cipher)
            masked = profiles.apply(audience, spec.type, value,
                                    context=MaskContext(field=field, names=names or ()))
            if masked is None:
                withheld.append(name)
                continue
            value = masked
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


def field_value(record: StoredRecord, name: str, cipher: FieldCipher) -> str:
    """One field of a stored record, decrypted when sealed; raises DecryptionError."""
    stored = record.fields[name]
    if stored.ciphertext is None:
        return stored.plain or ""
    return cipher.open(FieldContext.for_record(record, name), stored.ciphertext)


def person_names(record: StoredRecord, category: Category, cipher: FieldCipher
                 ) -> tuple[str, ...]:
    """The values of a record's person-name fields (decrypted; never released by this)."""
    values = (field_value(record, name, cipher) for name in record.fields
              if (spec := category.fields.get(name)) is not None and spec.type in NAME_TYPES)
    return tuple(v for v in values if v)
