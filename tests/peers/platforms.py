"""Three platforms on loopback, each with its own CA, keys, policies and data.

The key sets and policies come from gateway/peers/dev.py (made at test time with
`credgate keys init`'s functions, as tests/certs.py makes certificates).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.client import CredgateClient
from gateway.clock import Clock, FixedClock
from gateway.peers.dev import (
    CITY,
    PBOC,
    PBOC_SHARING,
    PROVINCE,
    PROVINCE_SHARING,
    Platform,
    city_and_province,
    make_platform,
    trust,
)
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.support import NOW

__all__ = ["CITY", "PBOC", "PROVINCE", "PROVINCE_SHARING", "Exchange", "Platform",
           "city_and_province", "free_port", "make_platform", "start_exchange", "trust"]


def free_port() -> int:
    """A loopback port free now (a peer's address is written before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Exchange:
    """The city, the province and the financial credit base's platform, all serving."""

    city: LiveGateway
    province: LiveGateway
    pboc: LiveGateway
    keys: dict[str, Platform]

    def client(self, where: LiveGateway, party: str) -> CredgateClient:
        """A client of a party of the platform `where` (with that platform's keys)."""
        name = next(n for n, g in ((CITY, self.city), (PROVINCE, self.province),
                                   (PBOC, self.pboc)) if g is where)
        return where.client(party, keys=self.keys[name].keys)

    def sync(self) -> None:
        """Push every outbox until nothing is left to send (the pushers' work, now)."""
        for _ in range(20):
            sent = sum(g.gw.outbox.drain() for g in (self.city, self.province)
                       if g.gw.outbox is not None)
            if not sent:
                return
        raise AssertionError("the outboxes did not drain")

    def stop(self) -> None:
        """Stop all three."""
        for running in (self.city, self.province, self.pboc):
            stop_live(running)


def start_exchange(root: Path, clock: Clock, *, database: str = "sqlite",
                   schemas: dict[str, str] | None = None) -> Exchange:
    """City, province and PBOC on loopback, each with its own CA, keys and data."""
    city, province = city_and_province(root)
    pboc = make_platform(root, PBOC, peers=(CITY,), sharing=PBOC_SHARING)
    ports = {CITY: free_port(), PROVINCE: free_port(), PBOC: free_port()}
    trust(city, province, target=f"127.0.0.1:{ports[PROVINCE]}")
    trust(city, pboc, target=f"127.0.0.1:{ports[PBOC]}")
    trust(province, city, target=f"127.0.0.1:{ports[CITY]}")
    trust(pboc, city)
    started: dict[str, LiveGateway] = {}
    try:
        for platform in (city, province, pboc):
            settings: dict[str, object] = {"keys_dir": platform.keys, "database": database,
                                           "peer_push_interval_s": 3600.0,
                                           "platform_id": platform.name}
            if schemas is not None:
                settings["database_schema"] = schemas[platform.name]
            started[platform.name] = start_live(
                root / f"{platform.name}-data", clock,  # type: ignore[arg-type]
                policies=platform.policies, listen=f"127.0.0.1:{ports[platform.name]}",
                **settings)
    except BaseException:
        for running in started.values():
            stop_live(running)
        raise
    return Exchange(city=started[CITY], province=started[PROVINCE], pboc=started[PBOC],
                    keys={CITY: city, PROVINCE: province, PBOC: pboc})


@contextmanager
def running_exchange(root: Path) -> Iterator[Exchange]:
    """A SQLite exchange on a fixed clock at NOW for the length of a fixture, then stopped."""
    running = start_exchange(root, FixedClock(NOW))
    try:
        yield running
    finally:
        running.stop()
