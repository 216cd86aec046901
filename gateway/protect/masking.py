"""Type-aware masking for the `masked` release level (GB/T 35273-2020, GB/T 37964-2019).

The facade the query path uses: ``mask_value(field_type, value)`` applies the default
mask of a field type. The operators live in ``gateway.protect.operators``, the
free-text scanner in ``gateway.pii.scanner`` and the per-audience profiles of
``policies/masking.toml`` in ``gateway.protect.profiles``. Every mask keeps far less
than the original and never returns it unchanged for a sensitive type.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.pii.masks import (
    MASK,
    mask_bank_card,
    mask_id_number,
    mask_keep,
    mask_mobile,
    mask_person_name,
)
from gateway.pii.normalise import COMPOUND_SURNAMES
from gateway.pii.scanner import mask_free_text
from gateway.protect.operators import (
    REDACTED,
    TYPE_MASKS,
    generalise_address,
    generalise_age,
    generalise_date,
    keep,
    redact,
)

__all__ = [
    "COMPOUND_SURNAMES",
    "MASK",
    "MASKERS",
    "REDACTED",
    "generalise_address",
    "generalise_age",
    "generalise_date",
    "keep",
    "mask_bank_card",
    "mask_free_text",
    "mask_id_number",
    "mask_keep",
    "mask_mobile",
    "mask_person_name",
    "mask_value",
    "redact",
]

MASKERS: dict[str, Callable[[str], str]] = dict(TYPE_MASKS)


def mask_value(field_type: str, value: str) -> str:
    """Mask a value by its field type; unknown types are redacted (fail closed)."""
    return MASKERS.get(field_type, redact)(value)
