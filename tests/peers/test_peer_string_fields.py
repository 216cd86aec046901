"""A personal number in any string field of a peer's request: never echoed, logged or kept.

The province calls the city's PeerService as the peer it is (its own CA and keys, on
loopback): a push of changes, a forwarded objection, an objection's status. Every string
field of each request in turn (the changes' fields, names and values included) holds a
third person's ID number, old ID, mobile or card number in one of the ways of
tests/services/test_every_string_field.py; a refusal is never INTERNAL, quotes nothing,
and no audit entry, log line or file of the city holds the number.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import grpc
import pytest
from google.protobuf.message import Message

from gateway.api import pb
from gateway.client import CredgateClient
from tests.peers.platforms import CITY, Exchange, running_exchange
from tests.pii.written_forms import digit_reading
from tests.services.records_data import debtor_record
from tests.services.test_every_string_field import VALUES, put_path, string_paths
from tests.support import ADULT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    with running_exchange(tmp_path_factory.mktemp("peer-fields")) as running:
        yield running


def _province(ex: Exchange) -> CredgateClient:
    pusher = ex.province.gw.outbox
    assert pusher is not None
    return pusher._client(CITY).client


_pushes = itertools.count(1)


def _change() -> pb.PeerChange:
    """A fresh record's first change (a change at or below one applied is skipped)."""
    n = next(_pushes)
    return pb.PeerChange(
        seq=1, record_id=f"rec-00000000-0000-4000-8000-{n:012x}", kind="upsert",
        change="listed", subject_id=ADULT, category="dishonest_debtor", severity="serious",
        event_date="2026-01-05", display_end="2029-01-05", provider="court", domain="",
        occupation="", state="active", replaces="",
        fields=[pb.ReleasedField(name="case_number", value="(2026)川01执1号"),
                pb.ReleasedField(name="obligation", value="给付货款"),
                # typed fields kept in clear: an amount, an enumeration, a credit code
                pb.ReleasedField(name="amount", value="50000.00"),
                pb.ReleasedField(name="performance", value="部分履行"),
                pb.ReleasedField(name="org_uscc", value="91330106MA2B3C4D5D")])


def _seeds(ex: Exchange) -> dict[str, tuple[str, Callable[[], Message]]]:
    record = ex.client(ex.city, "court").submit_records(
        [debtor_record("(2026)浙01执7001号")]).results[0].record_id
    return {
        "PushChanges": ("PushChanges", lambda: pb.PushChangesRequest(
            batch_id=f"batch-{next(_pushes)}", changes=[_change()])),
        "ForwardObjection": ("ForwardObjection", lambda: pb.ForwardObjectionRequest(
            record_id=record, subject_id=ADULT, reason="已履行完毕")),
        "ObjectionStatus": ("ObjectionStatus", lambda: pb.ObjectionStatusRequest(
            objection_id="obj-00000000-0000-4000-8000-0000000000cc")),
    }


@pytest.mark.parametrize("method", ["PushChanges", "ForwardObjection", "ObjectionStatus"])
def test_a_number_in_any_field_of_a_peer_request_is_never_echoed_logged_or_kept(
        exchange: Exchange, method: str) -> None:
    city = exchange.city
    name, make = _seeds(exchange)[method]
    call = getattr(_province(exchange).peers, name)
    if method != "ObjectionStatus":
        call(make(), timeout=30)  # the seed itself is served: each field below is reached
    for path in string_paths(make()):
        for value, digits in VALUES:
            request = make()
            put_path(request, path, value)
            before, logged = city.gw.audit.size(), len(city.logs.records)
            where = f"{method} {path} {value!r}"
            try:
                call(request, timeout=30)
            except grpc.RpcError as error:
                assert error.code() not in (grpc.StatusCode.INTERNAL,
                                            grpc.StatusCode.UNKNOWN), (where, error.details())
                details = error.details() or ""
                assert value not in details and digits not in digit_reading(details), where
            for _seq, entry in city.gw.audit.read(start=before + 1, limit=100):
                text = entry.canonical_bytes().decode()
                assert value not in text and digits not in digit_reading(text), (where, text)
            for record in city.logs.records[logged:]:
                line = record.getMessage()
                assert value not in line and digits not in digit_reading(line), (where, line)
    folder = city.gw.config.data_dir
    raw = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    for value, digits in VALUES:
        assert digits.encode() not in raw and value.encode() not in raw, (method, value)
