"""A peer's certificate is accepted only for that peer (issue 18 item 1).

The city gateway serves over mTLS with the province's trust bundle installed; calls
come from real clients with certificates of three CAs: the province's own, the city's,
and one nobody trusts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from gateway.catalogue.registry import Party
from gateway.clock import FixedClock
from gateway.crypto.key_files import add_party_keys
from gateway.identify.request_signing import digest_of_audit_text
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.peers.platforms import CITY, PROVINCE, Platform, city_and_province, make_platform, trust
from tests.support import ADULT, NOW

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[LiveGateway, Platform, Platform, Path]]:
    root = tmp_path_factory.mktemp("peers")
    city, province = city_and_province(root)
    trust(city, province)
    running = start_live(root / "city-data", FixedClock(NOW), keys_dir=city.keys,
                         policies=city.policies)
    try:
        yield running, city, province, root
    finally:
        stop_live(running)


def _query(live: LiveGateway, creds: object) -> grpc.StatusCode:
    client = live.client_with(creds)  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError) as refused:
        client.query_subject(ADULT, "cadre_selection")
    return refused.value.code()


def test_the_province_is_identified_by_its_own_ca(world: tuple) -> None:
    live, city, province, _ = world
    # Identified (and signed): refused by policy only, which gives a peer no lookups.
    assert _query(live, province.credentials_at(city)) == grpc.StatusCode.PERMISSION_DENIED
    entry = live.gw.audit.read(start=live.gw.audit.size(), limit=1)[0][1]
    assert entry.requester == PROVINCE and digest_of_audit_text(entry.request_signature)


def test_a_province_certificate_naming_a_city_department_is_refused(world: tuple) -> None:
    live, city, province, _ = world
    # The province's CA issued "court" (its own court): at the city it names nothing.
    as_court = province.credentials_at(city, party="court")
    assert _query(live, as_court) == grpc.StatusCode.UNAUTHENTICATED
    entry = live.gw.audit.read(start=live.gw.audit.size(), limit=1)[0][1]
    assert entry.decision == "deny" and entry.reason == "issuer_mismatch"


def test_a_city_certificate_naming_the_province_is_refused(world: tuple) -> None:
    live, city, _, _ = world
    add_party_keys(city.keys, Party(id=PROVINCE, name="forged", name_zh="伪造",
                                    kind="platform", roles=("platform",)))
    forged = city.credentials_at(city, party=PROVINCE)
    assert _query(live, forged) == grpc.StatusCode.UNAUTHENTICATED


def test_a_certificate_of_a_ca_nobody_trusts_is_refused_in_the_handshake(world: tuple
                                                                         ) -> None:
    live, city, _, root = world
    stranger = make_platform(root, PROVINCE + "-forged")
    add_party_keys(stranger.keys, Party(id=PROVINCE, name="forged", name_zh="伪造",
                                        kind="platform", roles=("platform",)))
    forged = stranger.credentials_at(city, party=PROVINCE)
    assert _query(live, forged) == grpc.StatusCode.UNAVAILABLE


def test_city_departments_still_come_from_the_city_ca(world: tuple) -> None:
    live, city, _, _ = world
    client = live.client_with(city.credentials_at(city, party="org_department"))
    answer = client.query_subject(ADULT, "cadre_selection")
    assert answer.audit_seq > 0 and CITY  # served as ever
