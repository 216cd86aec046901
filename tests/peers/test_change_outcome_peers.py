"""A peer's push and a forwarded objection commit with their audit entry (store faults).

City and province on loopback (tests/peers/platforms.py). The receiving platform's store
refuses a write (a trigger in its SQLite file) or its audit file is held: whatever
fails, the receiver's log and store agree, an allow entry and the change (at the latest
after a sweep), or a refusal and no change, and the sender is told so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import grpc
import pytest

from gateway.crypto.blind_index import blind_indexes
from gateway.errors import StoreUnavailable
from tests.peers.platforms import CITY, PROVINCE, Exchange, running_exchange
from tests.platform.outcomes import audit_held, decisions, store_fault, sweep_later
from tests.services.records_data import debtor_record
from tests.support import make_id_number

pytestmark = pytest.mark.e2e

RECEIVE, FORWARDED = "peer.receive", "objection.forwarded"
REASON = "该案已于2026年9月全部履行完毕"
_people = iter(range(800, 900))


def person() -> str:
    """A fresh synthetic ID number."""
    return make_id_number("510411", date(1985, 3, 9), next(_people))


@pytest.fixture
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running_exchange(tmp_path_factory.mktemp("outcome")) as running:
        yield running


# -- a push ---------------------------------------------------------------------------


def listed_at_city(ex: Exchange) -> str:
    """A court listing at the city, queued for the province; its subject."""
    subject = person()
    ex.client(ex.city, "court").submit_records([debtor_record("(2026)川01执9号",
                                                              subject=subject)])
    return subject


def received(ex: Exchange, subject: str) -> bool:
    """Whether the province holds the city's record of the subject."""
    return bool(ex.province.gw.store.find_records(
        blind_indexes(ex.province.gw.keyring, subject), ["dishonest_debtor"]))


def push(ex: Exchange) -> bool:
    """One push round of the city: whether the province acknowledged what it had."""
    assert ex.city.gw.outbox is not None
    ex.city.gw.outbox.run_once()
    return ex.city.gw.store.outbox_depth(PROVINCE) == 0


@pytest.mark.parametrize(("table", "event"), [("pending_changes", "INSERT"),
                                              ("records", "INSERT")])
def test_a_push_refused_by_the_receivers_store_is_one_refusal_and_pushed_again(
        exchange: Exchange, table: str, event: str) -> None:
    ex = exchange
    subject = listed_at_city(ex)
    with store_fault(ex.province, table, event):
        assert not push(ex)
    assert decisions(ex.province, RECEIVE) == ["deny"]
    assert not received(ex, subject)
    ex.sync()  # the outbox kept the change
    assert decisions(ex.province, RECEIVE) == ["deny", "allow"]
    assert received(ex, subject)


def test_a_push_whose_apply_fails_is_acknowledged_and_the_sweeper_applies_it(
        exchange: Exchange) -> None:
    ex = exchange
    subject = listed_at_city(ex)
    with store_fault(ex.province, "pending_changes", "DELETE"):
        assert push(ex)  # decided and durable at the province: acknowledged
        assert decisions(ex.province, RECEIVE) == ["allow"]
        assert not received(ex, subject)
        with pytest.raises(StoreUnavailable):
            sweep_later(ex.province)
    assert sweep_later(ex.province).changes_applied == 1
    assert received(ex, subject)
    assert decisions(ex.province, RECEIVE) == ["allow"]


def test_a_push_the_receivers_audit_did_not_take_is_dropped_and_pushed_again(
        exchange: Exchange) -> None:
    ex = exchange
    subject = listed_at_city(ex)
    with audit_held(ex.province):
        assert not push(ex)
    assert decisions(ex.province, RECEIVE) == []
    assert not received(ex, subject)
    assert not push(ex)  # the first push still holds the city's changes: refused
    assert decisions(ex.province, RECEIVE) == ["deny"]
    assert sweep_later(ex.province).changes_dropped == 1
    assert not received(ex, subject)
    ex.sync()
    assert decisions(ex.province, RECEIVE) == ["deny", "allow"]
    assert received(ex, subject)


# -- a forwarded objection ------------------------------------------------------------


def contested_at_province(ex: Exchange) -> tuple[str, str, str]:
    """A city listing received at the province: the subject, the person's portal consent
    there and the record's id there."""
    subject = listed_at_city(ex)
    ex.sync()
    portal = ex.client(ex.province, "citizen_portal")
    now = ex.province.gw.clock.now()
    consent = portal.issue_consent(
        subject_id=subject, grantee="citizen_portal", purpose="self_query",
        categories=list(ex.province.gw.catalogue.categories),
        not_before=now - timedelta(minutes=1), not_after=now + timedelta(days=400),
        max_uses=100)
    [record] = [r for r in portal.query_subject(subject, "self_query",
                                                consent_id=consent).records
                if r.origin == CITY]
    return subject, consent, record.record_id


def object_at_province(ex: Exchange, contested: tuple[str, str, str]) -> object:
    subject, consent, record_id = contested
    return ex.client(ex.province, "citizen_portal").file_objection(subject, consent,
                                                                   record_id, REASON)


def filed_at_city(ex: Exchange) -> bool:
    """Whether the city holds the forwarded objection."""
    return [o.forwarded_by for o in ex.city.gw.store.list_objections()] == ["province"]


@pytest.mark.parametrize(("table", "event"), [("pending_changes", "INSERT"),
                                              ("objections", "INSERT")])
def test_a_forward_refused_by_the_origins_store_is_one_refusal_there(
        exchange: Exchange, table: str, event: str) -> None:
    ex = exchange
    contested = contested_at_province(ex)
    with store_fault(ex.city, table, event), pytest.raises(grpc.RpcError) as info:
        object_at_province(ex, contested)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert decisions(ex.city, FORWARDED) == ["deny"]
    assert not filed_at_city(ex)
    object_at_province(ex, contested)
    assert decisions(ex.city, FORWARDED) == ["deny", "allow"]
    assert filed_at_city(ex)


def test_a_forward_whose_apply_fails_at_the_origin_is_filed_by_its_sweeper(
        exchange: Exchange) -> None:
    ex = exchange
    contested = contested_at_province(ex)
    with store_fault(ex.city, "pending_changes", "DELETE"):
        object_at_province(ex, contested)
        assert decisions(ex.city, FORWARDED) == ["allow"]
        assert not filed_at_city(ex)
    assert sweep_later(ex.city).changes_applied == 1
    assert filed_at_city(ex)
    assert decisions(ex.city, FORWARDED) == ["allow"]


def test_a_forward_the_origins_audit_did_not_take_is_dropped_there(
        exchange: Exchange) -> None:
    ex = exchange
    contested = contested_at_province(ex)
    with audit_held(ex.city), pytest.raises(grpc.RpcError):
        object_at_province(ex, contested)
    assert decisions(ex.city, FORWARDED) == []
    assert not filed_at_city(ex)
    with pytest.raises(grpc.RpcError):  # the record is taken until the sweeper asks
        object_at_province(ex, contested)
    assert decisions(ex.city, FORWARDED) == ["deny"]
    assert sweep_later(ex.city).changes_dropped == 1
    assert not filed_at_city(ex)
    object_at_province(ex, contested)
    assert decisions(ex.city, FORWARDED) == ["deny", "allow"]
    assert filed_at_city(ex)
