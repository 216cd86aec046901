"""The public feed: masked by the public profile, reviewed, exported with a signed manifest."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.crypto.fields import FieldCipher
from gateway.crypto.keyring import load_keyring
from gateway.crypto.signatures import load_signing_key, load_verify_key
from gateway.disclosure.export import (
    CSV_FILE,
    JSON_FILE,
    manifest_bytes,
    render_files,
    sign_manifest,
    verify_manifest,
)
from gateway.disclosure.feed import publish_batch
from gateway.errors import BadSignature
from gateway.pii.idnumber import parse_id_number
from gateway.protect.profiles import MaskingProfiles, UnpublishableField
from gateway.records.intake import seal_submission
from gateway.records.model import RecordSubmission, StoredRecord, StoredValue
from tests.support import ADULT, KEYS, NOW, OTHER_ADULT, POLICIES

KEYRING = load_keyring(KEYS)
CIPHER = FieldCipher(KEYRING)
PROFILES = MaskingProfiles.load(POLICIES, keyring=KEYRING)


def debtor(subject: str, name: str, obligation: str, source: str,
           catalogue: Catalogue) -> StoredRecord:
    sub = RecordSubmission(
        index=0, subject=parse_id_number(subject, today=NOW.date()),
        category="dishonest_debtor", severity="serious", event_date=date(2026, 5, 1),
        fields={"debtor_name": name, "case_number": source, "court_name": "某市中级人民法院",
                "obligation": obligation, "amount": "120000.00",
                "address": "浙江省杭州市西湖区文三路100号3幢201室"},
        source_record_id=source)
    return seal_submission(sub, provider="court", catalogue=catalogue, keyring=KEYRING,
                           cipher=CIPHER, now=NOW)


def test_public_profile_masks_and_the_review_passes(catalogue: Catalogue) -> None:
    batch = publish_batch([debtor(ADULT, "欧阳明远", "支付货款", "(2026)执1号", catalogue),
                           debtor(OTHER_ADULT, "李小红", "归还借款", "(2026)执2号", catalogue)],
                          catalogue=catalogue, profiles=PROFILES, cipher=CIPHER)
    assert batch.review.passed, batch.review.reasons
    first = batch.records[0].fields
    assert first["debtor_name"].startswith("欧阳") and "明远" not in first["debtor_name"]
    assert first["case_number"] == "(2026)执1号"
    assert first["address"].startswith("浙江省杭州市西湖区") and "文三路" not in first["address"]
    text = json.dumps([r.to_json() for r in batch.records], ensure_ascii=False)
    for secret in (ADULT, OTHER_ADULT, "欧阳明远", "李小红", "文三路"):
        assert secret not in text


@pytest.mark.parametrize(
    "leak",
    [f"被执行人身份证号{ADULT}", "联系电话 138 1234 5678", "被执行人欧阳明远拒不履行"],
    ids=["id-number", "mobile-with-spaces", "full-name"],
)
def test_a_leak_in_a_text_field_fails_the_review(catalogue: Catalogue, leak: str) -> None:
    record = debtor(ADULT, "欧阳明远", "支付货款", "(2026)执3号", catalogue)
    # The obligation is stored in clear and published through the "scan" operator;
    # plant the leak after masking to prove the gate itself catches it.
    batch = publish_batch([record], catalogue=catalogue, profiles=PROFILES, cipher=CIPHER)
    leaked = replace(batch.records[0], fields={**batch.records[0].fields, "obligation": leak})
    from gateway.disclosure.gate import review_batch

    result = review_batch([leaked.fields], subject_names=["欧阳明远"], subject_ids=[ADULT])
    assert not result.passed
    assert all(ADULT not in r and "欧阳明远" not in r for r in result.reasons)


def test_field_without_a_public_rule_stops_the_run(catalogue: Catalogue) -> None:
    record = debtor(ADULT, "欧阳明远", "支付货款", "(2026)执4号", catalogue)
    odd = replace(record, fields={**record.fields, "secret_note": StoredValue(plain="x")})
    with pytest.raises(UnpublishableField, match="secret_note"):
        publish_batch([odd], catalogue=catalogue, profiles=PROFILES, cipher=CIPHER)


def test_manifest_binds_the_files_and_the_signature(catalogue: Catalogue) -> None:
    batch = publish_batch([debtor(ADULT, "欧阳明远", "支付货款", "(2026)执5号", catalogue)],
                          catalogue=catalogue, profiles=PROFILES, cipher=CIPHER)
    files = render_files(batch.records)
    assert set(files) == {JSON_FILE, CSV_FILE}
    assert b"field.debtor_name" in files[CSV_FILE].splitlines()[0]
    manifest = manifest_bytes(files, batch.records, policy_version="v1", generated_at=NOW)
    signature = sign_manifest(manifest, load_signing_key(KEYS / "gateway.log.key"))
    pub = load_verify_key(KEYS / "gateway.log.pub")
    doc = verify_manifest(manifest, signature, pub, files)
    assert doc["counts"] == {"dishonest_debtor": 1, "total": 1}
    with pytest.raises(BadSignature):
        verify_manifest(manifest, signature, pub, {**files, CSV_FILE: files[CSV_FILE] + b"x"})
    with pytest.raises(BadSignature):
        verify_manifest(manifest.replace(b'"total":1', b'"total":2'), signature, pub, files)
