"""An objection to a record received from a peer goes to its origin; the answer comes back.

City and province (and PBOC) on loopback, each with its own CA, keys and data. The
city's court listing reaches the province; the person objects at the province; the
city's court answers it at the city; the person reads the answer at the province.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import grpc
import pytest

from gateway.api import pb
from tests.peers.platforms import CITY, PROVINCE, Exchange, running_exchange
from tests.services.lifecycle_support import refused
from tests.services.records_data import debtor_record
from tests.support import make_id_number

pytestmark = pytest.mark.e2e

_people = iter(range(700, 800))
REASON = "该案已于2026年9月全部履行完毕"
NOTE = "经核查，履行情况尚未确认，维持原记录"


def person() -> str:
    """A fresh synthetic ID number."""
    return make_id_number("510411", date(1984, 7, 9), next(_people))


@pytest.fixture
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running_exchange(tmp_path_factory.mktemp("forward")) as running:
        yield running


def _at_province(ex: Exchange, subject: str) -> tuple[str, pb.ReleasedRecord]:
    """The person's consent for the province's portal, and their record received from
    the city as the province shows it."""
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
    return consent, record


def _listed_and_received(ex: Exchange, subject: str, source: str
                         ) -> tuple[str, pb.ReleasedRecord]:
    """A court listing at the city, pushed to the province, as the person sees it there."""
    ex.client(ex.city, "court").submit_records([debtor_record(source, subject=subject)])
    ex.sync()
    return _at_province(ex, subject)


def test_an_objection_at_the_province_is_answered_by_the_city(exchange: Exchange) -> None:
    ex, subject = exchange, person()
    consent, received = _listed_and_received(ex, subject, "(2026)川0411执5号")
    portal = ex.client(ex.province, "citizen_portal")
    filed = portal.file_objection(subject, consent, received.record_id, REASON).objection
    assert (filed.status, filed.provider, filed.reason) == ("open", CITY, REASON)
    # At the origin it is an objection like any: the court sees it, with the reason.
    court = ex.client(ex.city, "court")
    [at_city] = court.list_objections().objections
    assert (at_city.reason, at_city.due_date) == (REASON, filed.due_date)
    # The province shows the record disputed at once.
    _, shown = _at_province(ex, subject)
    assert shown.disputed
    # Not answered yet: the person's listing at the province says so.
    [listed] = portal.list_objections(subject_id=subject, consent_id=consent).objections
    assert listed.status == "open"
    court.answer_objection(at_city.objection_id, "uphold", note=NOTE)
    [listed] = portal.list_objections(subject_id=subject, consent_id=consent).objections
    assert (listed.status, listed.outcome, listed.answer_note) == ("answered", "upheld", NOTE)
    # Both sides audited it; neither audit holds the reason or the note.
    for where, actions in ((ex.province, {"objection.file"}),
                           (ex.city, {"objection.forwarded", "objection.status"})):
        entries = [e for _, e in where.gw.audit.read(start=1, limit=10_000)
                   if e.action in actions]
        assert {e.action for e in entries} == actions
        assert all(e.decision == "allow" for e in entries)
        assert not any(REASON in e.reason or NOTE in e.reason for e in entries)


def test_forwarding_is_for_the_peer_the_record_went_to(exchange: Exchange) -> None:
    ex, subject = exchange, person()
    consent, received = _listed_and_received(ex, subject, "(2026)川0411执6号")
    # As the province, at the city: someone else's record, or an objection it did not
    # forward, is the same NotFound.
    province_at_city = ex.city.client_with(ex.keys[PROVINCE].credentials_at(ex.keys[CITY]))
    city_record = ex.city.gw.store.find_record_by_source("court", "(2026)川0411执6号")
    assert city_record is not None
    refused(lambda: province_at_city.forward_objection(city_record.record_id, person(),
                                                       REASON), grpc.StatusCode.NOT_FOUND)
    refused(lambda: province_at_city.objection_status("obj-00000000-0000-4000-8000-"
                                                      "000000000000"),
            grpc.StatusCode.NOT_FOUND)
    # A city department is no platform: it forwards nothing.
    refused(lambda: ex.client(ex.city, "tax_bureau").forward_objection(
        city_record.record_id, subject, REASON), grpc.StatusCode.PERMISSION_DENIED)
    # The origin down: the objection is not taken, and the person is told to retry.
    ex.city.server.stop(grace=0)
    portal = ex.client(ex.province, "citizen_portal")
    refused(lambda: portal.file_objection(subject, consent, received.record_id, REASON),
            grpc.StatusCode.UNAVAILABLE, "try again later")
    assert portal.list_objections(subject_id=subject, consent_id=consent).objections == []
