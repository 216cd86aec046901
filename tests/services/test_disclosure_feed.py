"""The public disclosure feed over mTLS: only the website, only what may be published."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.export import verify_manifest
from gateway.services import disclosure as disclosure_service
from tests.live_gateway import LiveGateway
from tests.services.records_data import NAME, debtor_record, identity_record, penalty_record
from tests.support import ADULT, KEYS, OTHER_ADULT, TEENAGER

OTHER_NAME = "李小红"


def typical_case(source: str, subject: str, narrative: str, name: str = NAME) -> dict:
    return {"subject_id": subject, "category": "typical_case", "severity": "serious",
            "event_date": "2026-06-01", "source_record_id": source,
            "fields": {"title": "拒不履行生效判决典型案例", "narrative": narrative,
                       "subject_name": name, "authority": "某市中级人民法院"}}


def load(live: LiveGateway) -> None:
    live.client("court").submit_records([
        debtor_record("PUB-1"),
        debtor_record("PUB-2", subject=OTHER_ADULT, debtor_name=OTHER_NAME),
        typical_case("TC-1", ADULT, f"被执行人{NAME}（身份证号{ADULT}，电话13812345678）"
                                    "名下有房产却拒不履行，法院依法将其纳入失信名单。"),
    ])
    live.client("public_security").submit_records([identity_record()])
    live.client("market_regulator").submit_records([
        penalty_record("PEN-S", "serious", "2026-09-01"),
        penalty_record("PEN-G", "general", "2026-09-01"),
        penalty_record("PEN-M", "minor", "2026-09-01")])


def feed(live: LiveGateway, party: str = "credit_website", **request: object) -> list:
    replies = live.client(party).disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(**request), timeout=30)  # type: ignore[arg-type]
    return [r for batch in replies for r in batch.records]


def test_website_gets_only_publishable_records_masked(live: LiveGateway) -> None:
    load(live)
    records = feed(live)
    by_source = {r.fields.get("case_number") or r.fields.get("decision_number")
                 or r.category: r for r in records}
    # 双公示: penalties at every severity the rules make public (general and serious);
    # minor (summary-procedure) penalties are not published.
    assert set(by_source) == {"PUB-1", "PUB-2", "PEN-S", "PEN-G", "typical_case"}
    text = repr([dict(r.fields) for r in records])
    for secret in (ADULT, OTHER_ADULT, NAME, OTHER_NAME, "13812345678", "文三路"):
        assert secret not in text, secret[:2]
    assert by_source["PUB-1"].fields["debtor_name"].startswith("欧阳")
    assert by_source["PUB-1"].category_name_zh == "失信被执行人"
    narrative = by_source["typical_case"].fields["narrative"]
    assert "拒不履行" in narrative and ADULT not in narrative


@pytest.mark.parametrize("party", ["org_department", "credit_agency", "court", "regulator"])
def test_nobody_but_the_website_gets_the_feed(live: LiveGateway, party: str) -> None:
    load(live)
    with pytest.raises(grpc.RpcError) as info:
        feed(live, party)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_website_cannot_query_a_person(live: LiveGateway) -> None:
    load(live)
    with pytest.raises(grpc.RpcError) as info:
        live.client("credit_website").query_subject(ADULT, "public_disclosure")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_disputed_and_expired_records_are_left_out(live: LiveGateway, clock: FixedClock) -> None:
    load(live)
    target = next(r for r in feed(live) if r.fields.get("case_number") == "PUB-1")
    now = clock.now()
    consent = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=5000), max_uses=10)
    live.client("citizen_portal").file_objection(ADULT, consent, target.record_id,
                                                 "这条记录不是我的")
    sources = {r.fields.get("case_number") or r.fields.get("decision_number")
               for r in feed(live)}
    assert "PUB-1" not in sources and "PUB-2" in sources
    clock.advance(timedelta(days=3 * 366))  # the serious penalty's 3 years have passed
    sources = {r.fields.get("case_number") or r.fields.get("decision_number")
               for r in feed(live)}
    assert "PEN-S" not in sources


def test_a_batch_that_leaks_is_withheld_and_audited(live: LiveGateway) -> None:
    load(live)
    # Case TC-2 about ADULT names the OTHER subject of the batch: the scanner masks only
    # the case's own subject, so the review gate must catch the other name.
    live.client("court").submit_records([
        typical_case("TC-2", ADULT, f"本案与被执行人{OTHER_NAME}串通转移财产。")])
    records = feed(live, batch_size=1000)
    assert records == []  # the single batch failed the review: nothing released
    entries = [e for _, e in live.gw.audit.read(start=1, limit=200)
               if e.action == "disclosure.feed"]
    assert [e.decision for e in entries] == ["deny"]
    assert entries[0].reason.startswith("privacy_review_failed")
    assert OTHER_NAME not in entries[0].canonical_bytes().decode()
    logged = " ".join(r.getMessage() for r in live.logs.records)
    assert "withheld" in logged and OTHER_NAME not in logged and ADULT not in logged


def test_export_is_signed_and_checks_out(live: LiveGateway, tmp_path: Path) -> None:
    load(live)
    export = live.client("credit_website").export_disclosure(timeout=30)
    files = export.files
    doc = verify_manifest(export.manifest, export.signature,
                          load_verify_key(KEYS / "gateway.log.pub"), files)
    # Two listings, the typical case, the serious and the general penalty (双公示).
    assert doc["counts"]["total"] == 5 and doc["policy_version"] == live.gw.state.version
    assert ADULT.encode() not in b"".join(files.values())
    assert export.withheld_batches == 0


def test_an_empty_feed_is_still_audited(live: LiveGateway) -> None:
    assert feed(live) == []
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert (entry.action, entry.requester, entry.decision) == (
        "disclosure.feed", "credit_website", "allow")
    assert entry.record_count == 0


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_a_record_naming_the_subject_of_another_batch_is_withheld(live: LiveGateway,
                                                                  batch_size: int) -> None:
    # The website chooses the batch size: the review must not depend on it.
    other_name = "李小红"
    live.client("court").submit_records([
        debtor_record("RUN-1", subject=OTHER_ADULT, debtor_name=other_name),
        typical_case("RUN-2", ADULT, f"本案与被执行人{other_name}串通转移财产。")])
    published = feed(live, batch_size=batch_size)
    assert not any(other_name in value for r in published for value in r.fields.values())
    assert not [r for r in published if r.category == "typical_case"]


def test_a_minors_record_is_never_published(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([
        penalty_record("MINOR-1", "serious", "2026-09-01", subject=TEENAGER),
        penalty_record("ADULT-1", "serious", "2026-09-01")])
    assert [r.fields["decision_number"] for r in feed(live)] == ["ADULT-1"]


def test_an_objection_filed_while_a_batch_is_prepared_keeps_its_record_back(
        live: LiveGateway, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    live.client("court").submit_records([debtor_record("LATE-1")])
    now = clock.now()
    consent = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=30), max_uses=10)
    prepare = disclosure_service.publish_batch

    def objection_arrives_meanwhile(records, **settings):  # type: ignore[no-untyped-def]
        batch = prepare(records, **settings)
        live.client("citizen_portal").file_objection(ADULT, consent, records[0].record_id,
                                                     "这条记录不是我的")
        return batch

    monkeypatch.setattr(disclosure_service, "publish_batch", objection_arrives_meanwhile)
    assert feed(live) == []


def test_an_export_larger_than_a_message_arrives_in_pieces(
        live: LiveGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    load(live)
    monkeypatch.setattr(disclosure_service, "EXPORT_PIECE_BYTES", 100)  # many pieces
    pieces = list(live.client("credit_website").disclosure.ExportDisclosure(
        pb.ExportDisclosureRequest(), timeout=30))
    assert len(pieces) > 10 and pieces[-1].manifest and not pieces[0].manifest
    export = live.client("credit_website").export_disclosure(timeout=30)
    doc = verify_manifest(export.manifest, export.signature,
                          load_verify_key(KEYS / "gateway.log.pub"), export.files)
    assert doc["counts"]["total"] == 5  # the general penalty is published too (双公示)
