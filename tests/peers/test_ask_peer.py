"""A check asks the province for records that live elsewhere (issue 18 item 4).

City and province on loopback, each with its own CA, keys and data; the city reaches
the province through a relay that can stop relaying (a province that is up but does not
answer), and the province is finally stopped. Neither ever answers a silent "clean".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.peers.dev import CITY, PROVINCE, Platform, city_and_province, trust
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.peers.platforms import free_port
from tests.services.records_data import debtor_record, penalty_record
from tests.stall_proxy import StallProxy
from tests.support import NOW, make_id_number

pytestmark = pytest.mark.e2e

_people = iter(range(500, 700))


def person() -> str:
    """A fresh synthetic ID number: the tests of the module never share a person."""
    from datetime import date

    return make_id_number("510421", date(1979, 3, 4), next(_people))


@dataclass
class Asking:
    """The city (asking the province through the relay) and the province (asking the
    city directly)."""

    city: LiveGateway
    province: LiveGateway
    keys: dict[str, Platform]
    relay: StallProxy

    def at(self, where: LiveGateway, party: str):  # type: ignore[no-untyped-def]
        """A client of a party of one platform."""
        return where.client(party, keys=self.keys[CITY if where is self.city else PROVINCE]
                            .keys)


@pytest.fixture(scope="module")
def asking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asking]:
    root: Path = tmp_path_factory.mktemp("ask-peer")
    clock = FixedClock(NOW)
    city, province = city_and_province(root)
    ports = {CITY: free_port(), PROVINCE: free_port()}
    relay = StallProxy(ports[PROVINCE])
    trust(city, province, target=f"127.0.0.1:{relay.port}")
    trust(province, city, target=f"127.0.0.1:{ports[CITY]}")
    started: list[LiveGateway] = []
    try:
        for platform, peer in ((province, CITY), (city, PROVINCE)):
            started.append(start_live(
                root / f"{platform.name}-data", clock, policies=platform.policies,
                keys_dir=platform.keys, listen=f"127.0.0.1:{ports[platform.name]}",
                platform_id=platform.name, peer_push_interval_s=3600.0,
                ask_peer=peer, ask_peer_budget_s=1.0))
        yield Asking(city=started[1], province=started[0],
                     keys={CITY: city, PROVINCE: province}, relay=relay)
    finally:
        relay.close()
        for running in started:
            stop_live(running)


def _entry(where: LiveGateway, seq: int):  # type: ignore[no-untyped-def]
    return where.gw.audit.read(start=seq, limit=1)[0][1]


def test_a_listing_at_the_province_restricts_in_a_city_check(asking: Asking) -> None:
    listed, clean = person(), person()
    asking.at(asking.province, "court").submit_records([debtor_record("(2026)川04执1号",
                                                                      subject=listed)])
    checker = asking.at(asking.city, "tax_bureau")
    reply = checker.joint_punishment(listed, "flights_and_rail")
    assert (reply.restricted, reply.completeness) == (True, pb.Completeness.COMPLETE)
    assert not reply.unanswered_peers
    # Both sides audited the question: the city names the province's entry, which is a
    # check by the city answered from the province's records alone (no asking back).
    city_entry = _entry(asking.city, reply.audit_seq)
    [province_seq] = [int(p.split(" seq ")[1]) for p in city_entry.reason.split("; ")
                      if p.startswith("peers: ")]
    province_entry = _entry(asking.province, province_seq)
    assert (province_entry.action, province_entry.requester, province_entry.reason) == (
        "check.joint_punishment", CITY, "flights_and_rail: restricted")
    # The green channel too; and a person listed nowhere is clean, complete.
    assert not asking.at(asking.city, "market_regulator").green_channel(listed).eligible
    reply = checker.joint_punishment(clean, "flights_and_rail")
    assert (reply.restricted, reply.completeness) == (False, pb.Completeness.COMPLETE)
    # The other way round: the province's check asks the city.
    asking.at(asking.city, "court").submit_records([debtor_record("(2026)川0421执2号",
                                                                  subject=clean)])
    assert asking.at(asking.province, "tax_bureau").joint_punishment(
        clean, "high_consumption").restricted


def test_a_province_that_is_slow_or_down_makes_the_answer_incomplete(
        asking: Asking) -> None:
    local, clean = person(), person()
    asking.at(asking.city, "court").submit_records([debtor_record("(2026)川04执3号",
                                                                  subject=local)])
    asking.at(asking.city, "market_regulator").submit_records([
        penalty_record("PEN-ASK", "general", "2026-10-01", subject=local)])
    checker = asking.at(asking.city, "tax_bureau")
    licensing = asking.at(asking.city, "market_regulator")
    for phase in ("slow", "down"):
        if phase == "slow":
            asking.relay.stall()  # up, connected, and answering nothing
        else:
            asking.province.server.stop(grace=0)
            asking.relay.flow()
        reply = checker.joint_punishment(clean, "flights_and_rail")
        assert (reply.restricted, reply.completeness, list(reply.unanswered_peers)) == (
            False, pb.Completeness.INCOMPLETE, [PROVINCE]), phase
        green = licensing.green_channel(clean)
        assert (green.eligible, green.completeness) == (True, pb.Completeness.INCOMPLETE)
        # What this platform's records already decide needs no peer: complete.
        reply = checker.joint_punishment(local, "flights_and_rail")
        assert (reply.restricted, reply.completeness) == (True, pb.Completeness.COMPLETE)
        assert not licensing.green_channel(local).eligible
        entry = _entry(asking.city, checker.joint_punishment(clean, "high_consumption")
                       .audit_seq)
        assert entry.reason == "high_consumption: not restricted; incomplete; " \
                               "peers: province unanswered", phase
