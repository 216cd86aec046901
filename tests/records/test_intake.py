"""Intake: a replay stays a replay across a blind-index key rotation, a change does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from gateway.catalogue.registry import load_catalogue
from gateway.crypto.fields import FieldCipher
from gateway.crypto.keyring import load_keyring
from gateway.errors import AlreadyExists
from gateway.pii.idnumber import parse_id_number
from gateway.records.intake import seal_submission, with_earlier_digest
from gateway.records.model import RecordSubmission
from gateway.records.sqlite_store import SqliteStore
from tests.support import ADULT, KEYS, NOW, POLICIES

SUBMISSION = RecordSubmission(
    index=0, subject=parse_id_number(ADULT, today=NOW.date()), category="dishonest_debtor",
    severity="serious", event_date=date(2026, 5, 1),
    fields={"debtor_name": "欧阳明远", "case_number": "(2026)执1号",
            "court_name": "某市中级人民法院", "obligation": "支付货款", "amount": "120000.00"},
    source_record_id="(2026)执1号")


def test_a_replay_after_an_index_key_rotation_is_still_a_replay(tmp_path: Path) -> None:
    catalogue, before = load_catalogue(POLICIES), load_keyring(KEYS)
    after = before.with_new_index_key("bi-rotated")
    store = SqliteStore(tmp_path / "records.db")
    try:
        [first] = store.put_records([seal_submission(SUBMISSION, provider="court",
                                                     catalogue=catalogue, keyring=before,
                                                     cipher=FieldCipher(before), now=NOW)])
        again = seal_submission(SUBMISSION, provider="court", catalogue=catalogue,
                                keyring=after, cipher=FieldCipher(after), now=NOW)
        with pytest.raises(AlreadyExists):  # the digest alone differs under the new key
            store.put_records([again])
        [replayed] = store.put_records([with_earlier_digest(store, after, again, SUBMISSION)])
        assert (replayed.record_id, replayed.created) == (first.record_id, False)
        # Other content under the same source id is still refused.
        changed = replace(SUBMISSION, fields={**SUBMISSION.fields, "amount": "999.00"})
        other = seal_submission(changed, provider="court", catalogue=catalogue,
                                keyring=after, cipher=FieldCipher(after), now=NOW)
        with pytest.raises(AlreadyExists):
            store.put_records([with_earlier_digest(store, after, other, changed)])
    finally:
        store.close()
