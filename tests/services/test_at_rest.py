"""Encryption at rest: the database file holds no ID number, name or sensitive value."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from tests.live_gateway import LiveGateway
from tests.services.records_data import (
    ADDRESS,
    BANK_CARD,
    MOBILE,
    NAME,
    debtor_record,
    financial_record,
    identity_record,
)
from tests.support import ADULT


def all_bytes(directory: Path) -> bytes:
    """Every byte of every file the gateway wrote (databases, WAL files)."""
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_no_plaintext_personal_data_in_any_file(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("R-1")])
    live.client("public_security").submit_records([identity_record()])
    live.client("pboc_branch").submit_records([financial_record()])
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    live.gw.store.close()
    live.gw.audit.close()
    raw = all_bytes(live.gw.config.data_dir)
    assert raw  # the files exist and hold data
    # The description is free text only this record holds (a behaviour name such as
    # 恶意逃废债务 is in the catalogue, which the policy versions keep in clear).
    for secret in (ADULT, NAME, ADDRESS, MOBILE, BANK_CARD, "转移名下存款以逃避归还借款"):
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, secret[:2]
    assert b"R-1" in raw  # non-sensitive fields (the case number) stay in clear


def test_ciphertext_moved_to_another_record_is_refused(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("M-1"), debtor_record("M-2")])
    db = sqlite3.connect(live.gw.config.records_db)
    rows = db.execute("SELECT record_id, fields FROM records ORDER BY source_record_id").fetchall()
    (_, first_fields), (second_id, _) = rows
    # Copy the first record's encrypted fields (name, address) over the second record's.
    db.execute("UPDATE records SET fields = ? WHERE record_id = ?", (first_fields, second_id))
    db.commit()
    db.close()
    with pytest.raises(grpc.RpcError) as info:
        live.client("org_department").query_subject(ADULT, "cadre_selection")
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert NAME not in info.value.details() and ADULT not in info.value.details()
    [(_, entry)] = [x for x in live.gw.audit.read(start=1, limit=10)
                    if x[1].action == "query.subject"]
    assert entry.decision == "deny" and entry.reason == "DecryptionError"


def test_a_narrative_naming_people_is_stored_only_encrypted(live: LiveGateway) -> None:
    narrative = f"被执行人{NAME}（身份证号{ADULT}）拒不履行，联系电话{MOBILE}"
    live.client("court").submit_records([debtor_record("N-1", obligation=narrative)])
    live.gw.store.close()
    live.gw.audit.close()
    raw = all_bytes(live.gw.config.data_dir)
    for secret in (ADULT, NAME, MOBILE, "拒不履行"):
        assert secret.encode("utf-8") not in raw, secret[:2]


@pytest.mark.parametrize("where", ["source_record_id", "case_number", "position"])
def test_a_personal_number_is_never_stored_in_clear(live: LiveGateway, where: str) -> None:
    # source_record_id and clear fields (a case number, a position) are not encrypted, so
    # an ID, mobile or card number in them is refused; the message never repeats it.
    if where == "position":
        record = {"subject_id": ADULT, "category": "employment", "severity": "not_applicable",
                  "event_date": "2020-05-01", "source_record_id": "HR-1",
                  "fields": {"employer": "某某科技有限公司", "position": f"工程师 {MOBILE}"}}
        party = "hr_bureau"
    else:
        record = debtor_record("ZX-1")
        if where == "source_record_id":
            record["source_record_id"] = f"ZX-{ADULT}"
        else:
            record["fields"]["case_number"] = f"(2026)执{BANK_CARD}号"
        party = "court"
    with pytest.raises(grpc.RpcError) as info:
        live.client(party).submit_records([record])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details()
    assert "ID, mobile or bank card number" in details
    for secret in (ADULT, MOBILE, BANK_CARD):
        assert secret not in details
    live.gw.store.close()
    raw = all_bytes(live.gw.config.data_dir)
    for secret in (ADULT, MOBILE, BANK_CARD):
        assert secret.encode("utf-8") not in raw


def test_an_unknown_field_name_is_never_echoed(live: LiveGateway) -> None:
    # Errors quote nothing the caller wrote (issue 10 item 6), not even a name that reads
    # as a code: they name its position and length, and the nearest catalogue code.
    for name in (ADULT, "debtor_nickname", f"debtor_{ADULT}"):
        record = debtor_record("F-1")
        record["fields"][name] = "x"
        with pytest.raises(grpc.RpcError) as info:
            live.client("court").submit_records([record])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert name not in info.value.details()
        assert f"a name of {len(name)} characters" in info.value.details()
