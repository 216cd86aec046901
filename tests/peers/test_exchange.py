"""City and province (and the financial credit base) exchanging records (issue 18).

Three gateways on loopback, each with its own CA, keys, policies and data, on SQLite and
on PostgreSQL: the city pushes what policies/sharing.toml sends up, the province pushes
its own listings down, the PBOC platform subscribes to court listings.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.identify.request_signing import digest_of_audit_text
from gateway.records.lifecycle import ACTIVE
from gateway.records.model import StoredRecord
from gateway.rotation.reencrypt import reencrypt_store
from gateway.services.peers import received_request_id
from tests.audit.shared_support import PG_URL, pg_admin, require_postgres
from tests.live_gateway import LiveGateway
from tests.peers.platforms import CITY, PROVINCE, Exchange, start_exchange
from tests.services.lifecycle_support import refused
from tests.services.records_data import debtor_record, penalty_record
from tests.support import NOW, make_id_number

pytestmark = pytest.mark.e2e

_people = iter(range(200, 400))


def person() -> str:
    """A fresh synthetic ID number, so the tests of the module never share a person."""
    from datetime import date

    return make_id_number("330106", date(1980, 1, 2), next(_people))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def exchange(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Exchange]:
    root = tmp_path_factory.mktemp(f"exchange-{request.param}")
    clock = FixedClock(NOW)
    schemas = None
    if request.param == "postgres":
        require_postgres()
        suffix = root.name.replace("-", "_").lower()[-12:]
        schemas = {name: f"credgate_peers_{name}_{suffix}"
                   for name in (CITY, PROVINCE, "pboc_branch")}
    running = start_exchange(root, clock,
                             database=PG_URL if schemas else "sqlite", schemas=schemas)
    try:
        yield running
    finally:
        running.stop()
        for schema in (schemas or {}).values():
            pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _received(at: LiveGateway, origin: str, source: str) -> StoredRecord | None:
    return at.gw.store.find_record_by_source(origin, source)


def _listing(ex: Exchange, subject: str, source: str) -> str:
    reply = ex.client(ex.city, "court").submit_records([debtor_record(source, subject)])
    return reply.results[0].record_id


def _shown(ex: Exchange, where: LiveGateway, subject: str) -> list[pb.ReleasedRecord]:
    reply = ex.client(where, "org_department").query_subject(subject, "cadre_selection")
    return list(reply.records)


def test_a_court_listing_reaches_the_province_and_leaves_when_the_listing_ends(
        exchange: Exchange) -> None:
    subject, source = person(), "(2026)浙01执9001号"
    record_id = _listing(exchange, subject, source)
    exchange.sync()
    # The province shows it, with where it came from, as the sharing policy released it.
    [shown] = _shown(exchange, exchange.province, subject)
    assert (shown.origin, shown.origin_provider, shown.category) == (CITY, "court",
                                                                    "dishonest_debtor")
    values = {f.name: (f.value, f.disclosure) for f in shown.fields}
    assert values["case_number"] == (source, pb.CLEAR)
    assert values["address"][0] != debtor_record(source)["fields"]["address"]  # masked
    # Both audits hold the exchange, each naming the city's request signature.
    push = [e for _, e in exchange.city.gw.audit.read(start=1, limit=10_000)
            if e.action == "peer.push" and e.reason == f"to {PROVINCE}"][-1]
    received = [(seq, e) for seq, e in exchange.province.gw.audit.read(start=1, limit=10_000)
                if e.action == "peer.receive"
                and e.request_id == received_request_id(CITY, push.request_id)]
    [(seq, entry)] = received
    assert entry.requester == CITY and entry.request_signature == push.request_signature
    assert digest_of_audit_text(push.request_signature)
    ack = [e for _, e in exchange.city.gw.audit.read(start=1, limit=10_000)
           if e.action == "peer.push.acknowledged" and e.request_id == push.request_id]
    [answer] = ack
    words = answer.reason.split()
    assert words[:3] == [PROVINCE, "audit_seq", str(seq)]
    assert len(base64.b64decode(words[-1])) == 64  # the province's Ed25519 answer signature
    # The court lifts the listing: the province no longer holds the person's data.
    exchange.client(exchange.city, "court").remove_record(
        record_id=record_id, reason="listing_period_ended")
    exchange.sync()
    assert _shown(exchange, exchange.province, subject) == []
    kept = _received(exchange.province, CITY, record_id)
    assert kept is not None and kept.state != ACTIVE
    assert kept.fields == {} and kept.subject_index == "" and kept.subject_ciphertext == b""
    # Key rotation at the province has nothing of the person left to re-encrypt there.
    assert reencrypt_store(exchange.province.gw.store, exchange.province.gw.keyring).failed == 0


def test_a_correction_replaces_the_listing_at_the_province(exchange: Exchange) -> None:
    subject, source = person(), "(2026)浙01执9002号"
    record_id = _listing(exchange, subject, source)
    exchange.sync()
    corrected = debtor_record(source + "-1", subject, amount="80000.00")
    exchange.client(exchange.city, "court").revise_record(
        record_id=record_id, reason="entered_in_error", correction=corrected)
    exchange.sync()
    [shown] = _shown(exchange, exchange.province, subject)
    assert {f.name: f.value for f in shown.fields}["amount"] == "80000.00"
    assert _received(exchange.province, CITY, record_id).state != ACTIVE  # type: ignore[union-attr]


def test_a_withdrawal_leaves_nothing_at_the_province(exchange: Exchange) -> None:
    subject = person()
    record_id = _listing(exchange, subject, "(2026)浙01执9003号")
    exchange.sync()
    assert len(_shown(exchange, exchange.province, subject)) == 1
    exchange.client(exchange.city, "court").revise_record(record_id=record_id,
                                                           reason="revoked_on_review")
    exchange.sync()
    assert _shown(exchange, exchange.province, subject) == []


def _self_consent(ex: Exchange, subject: str) -> str:
    now = ex.city.gw.clock.now()
    return ex.client(ex.city, "citizen_portal").issue_consent(
        subject_id=subject, grantee="citizen_portal", purpose="self_query",
        categories=list(ex.city.gw.catalogue.categories),
        not_before=now - timedelta(minutes=1), not_after=now + timedelta(days=400),
        max_uses=100)


def test_the_disputed_mark_comes_and_goes_at_the_province(exchange: Exchange) -> None:
    subject = person()
    record_id = _listing(exchange, subject, "(2026)浙01执9004号")
    consent = _self_consent(exchange, subject)
    filed = exchange.client(exchange.city, "citizen_portal").file_objection(
        subject, consent, record_id, "the debt was paid in June")
    exchange.sync()
    [shown] = _shown(exchange, exchange.province, subject)
    assert shown.disputed
    exchange.client(exchange.city, "court").answer_objection(
        filed.objection.objection_id, "uphold", note="not paid")
    exchange.sync()
    [shown] = _shown(exchange, exchange.province, subject)
    assert not shown.disputed


def test_a_repair_takes_the_record_off_the_province(exchange: Exchange) -> None:
    subject = person()
    reply = exchange.client(exchange.city, "market_regulator").submit_records(
        [penalty_record("市监罚〔2026〕901号", "minor", "2026-11-01", subject)])
    record_id = reply.results[0].record_id
    exchange.sync()
    kept = _received(exchange.province, CITY, record_id)
    assert kept is not None and kept.state == ACTIVE and kept.fields == {}  # a summary
    consent = _self_consent(exchange, subject)
    applied = exchange.client(exchange.city, "citizen_portal").apply_repair(
        subject, consent, record_id, "fine paid, training done")
    exchange.client(exchange.city, "market_regulator").decide_repair(
        applied.repair.repair_id, approve=True, reason="fine paid")
    exchange.sync()
    kept = _received(exchange.province, CITY, record_id)
    assert kept is not None and kept.state == "repaired" and kept.subject_index == ""


def test_the_end_of_display_takes_the_record_off_the_province(exchange: Exchange) -> None:
    subject = person()
    reply = exchange.client(exchange.city, "market_regulator").submit_records(
        [penalty_record("市监罚〔2026〕902号", "minor", "2026-10-01", subject)])
    record_id = reply.results[0].record_id
    exchange.sync()
    assert _received(exchange.province, CITY, record_id).state == ACTIVE  # type: ignore[union-attr]
    clock = exchange.city.gw.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=70))  # three months of display are over on 2027-01-01
    try:
        exchange.sync()
        kept = _received(exchange.province, CITY, record_id)
        assert kept is not None and kept.state != ACTIVE and kept.fields == {}
    finally:
        clock.set(NOW)


def test_a_listing_at_the_province_restricts_the_person_in_a_city_check(
        exchange: Exchange) -> None:
    subject = person()
    exchange.client(exchange.province, "court").submit_records(
        [debtor_record("(2026)浙高执9005号", subject)])
    before = exchange.client(exchange.city, "tax_bureau").joint_punishment(
        subject, "high_consumption")
    green = exchange.client(exchange.city, "market_regulator").green_channel(subject)
    assert not before.restricted and green.eligible
    exchange.sync()
    after = exchange.client(exchange.city, "tax_bureau").joint_punishment(
        subject, "high_consumption")
    assert after.restricted
    # 一处失信，处处受限: no green channel here either.
    assert not exchange.client(exchange.city, "market_regulator").green_channel(subject).eligible
    [shown] = _shown(exchange, exchange.city, subject)
    assert (shown.origin, shown.origin_provider) == (PROVINCE, "court")


def test_a_received_record_is_read_only_here(exchange: Exchange) -> None:
    subject = person()
    exchange.client(exchange.province, "court").submit_records(
        [debtor_record("(2026)浙高执9006号", subject)])
    exchange.sync()
    [shown] = _shown(exchange, exchange.city, subject)
    consent = _self_consent(exchange, subject)
    # Only its origin answers for it: an objection here is forwarded there (the province
    # keeps it; tests/peers/test_forward_objection.py), the record here stays as it was.
    reply = exchange.client(exchange.city, "citizen_portal").file_objection(
        subject, consent, shown.record_id, "not me")
    assert reply.objection.provider == PROVINCE
    [at_origin] = exchange.client(exchange.province, "court").list_objections().objections
    assert at_origin.reason == "not me"
    kept = exchange.city.gw.store.get_record(shown.record_id)
    assert kept is not None and kept.state == ACTIVE and kept.origin == PROVINCE


def test_the_financial_base_receives_court_listings_without_the_address(
        exchange: Exchange) -> None:
    subject, source = person(), "(2026)浙01执9007号"
    record_id = _listing(exchange, subject, source)
    exchange.sync()
    got = _received(exchange.pboc, CITY, record_id)
    assert got is not None and got.origin == CITY and got.state == ACTIVE
    assert "address" not in got.fields and got.fields["case_number"].plain == source


def test_a_push_from_a_party_that_is_no_peer_is_refused(exchange: Exchange) -> None:
    court = exchange.client(exchange.city, "court")
    change = pb.PeerChange(seq=1, record_id="rec-x", kind="retire", category="dishonest_debtor")
    refused(lambda: court.peers.PushChanges(pb.PushChangesRequest(batch_id="batch-x",
                                                                  changes=[change])),
            grpc.StatusCode.PERMISSION_DENIED)


def test_a_category_the_receiver_does_not_take_is_refused(exchange: Exchange) -> None:
    pusher = exchange.province.gw.outbox
    assert pusher is not None
    client = pusher._client(CITY)
    change = pb.PeerChange(seq=1, record_id="rec-honour", kind="retire", category="honour")
    request = pb.PushChangesRequest(batch_id="batch-honour", changes=[change])
    signed = client.sign(request)
    refused(lambda: client.push(signed),
            grpc.StatusCode.PERMISSION_DENIED, "does not take the category")


def test_a_replayed_push_is_refused(exchange: Exchange) -> None:
    pusher = exchange.province.gw.outbox
    assert pusher is not None
    client = pusher._client(CITY)
    change = pb.PeerChange(seq=1, record_id="rec-replay", kind="retire",
                           category="dishonest_debtor")
    request = pb.PushChangesRequest(batch_id="batch-replay", changes=[change])
    signed = client.sign(request)
    client.push(signed)
    refused(lambda: client.push(signed),
            grpc.StatusCode.UNAUTHENTICATED, "replay")



def test_a_received_record_is_published_by_its_origin_not_here(exchange: Exchange) -> None:
    subject = person()
    exchange.client(exchange.province, "court").submit_records(
        [debtor_record("(2026)浙高执9008号", subject)])
    exchange.sync()
    [shown] = _shown(exchange, exchange.city, subject)
    feed = list(exchange.client(exchange.city, "credit_website").disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(categories=["dishonest_debtor"]), timeout=30))
    assert shown.record_id not in {r.record_id for b in feed for r in b.records}
    left_out = {x.reason: x.count for x in feed[-1].left_out}
    assert left_out.get("from_peer", 0) >= 1
