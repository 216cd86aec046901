"""Joint punishment reaching the responsible persons of an organisation (落实到人).

A record about an organisation, named by its unified social credit code (GB 32100), is
kept as one record per responsible person: each is that person's record (their ID is
the subject, so their checks and queries count it), naming the organisation and the
person's role (legal representative, responsible or financial officer). This helper
turns one organisation record and the named persons into those records for a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ORG_CODE_FIELD = "org_uscc"
ROLE_FIELD = "party_role"


def responsible_person_records(record: Mapping[str, Any], persons: Mapping[str, str]
                               ) -> list[dict[str, Any]]:
    """One record per (ID number -> role) in ``persons`` from an organisation's record;
    each gets its own source id (the organisation record's, then "#" and its position)."""
    if not record.get("fields", {}).get(ORG_CODE_FIELD):
        raise ValueError("the record names no organisation (org_uscc)")
    out = []
    for position, (subject_id, role) in enumerate(persons.items(), start=1):
        fields = dict(record["fields"])
        fields[ROLE_FIELD] = role
        out.append({**record, "subject_id": subject_id, "fields": fields,
                    "source_record_id": f"{record['source_record_id']}#{position}"})
    return out
