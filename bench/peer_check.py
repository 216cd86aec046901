"""The added latency of a joint punishment check that consults the province (issue 18).

Run with `python -m bench.peer_check`. City and province gateways (development key sets,
each with its own CA) serve on loopback in this process; the same client asks the same
clean person's check, one call at a time, first of a city that consults no peer (the
baseline, same run), then of a city that asks the province within its budget. A clean
answer is the one that asks: a restricted one is decided by the city's own records.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from gateway.app import Gateway
from gateway.config import Config
from gateway.peers.dev import CITY, PROVINCE, city_and_province, trust
from gateway.pii.idnumber import make_id_number
from gateway.server import start_server

SUBJECT = make_id_number("510421", date(1979, 3, 4), 77)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _latencies(gw: Gateway, keys: Path, port: int, calls: int) -> list[float]:
    from gateway.client import CredgateClient, PartyCredentials

    creds = PartyCredentials.from_keys_dir(keys, "tax_bureau")
    out: list[float] = []
    with CredgateClient(f"127.0.0.1:{port}", creds) as client:
        client.joint_punishment(SUBJECT, "flights_and_rail")  # connect, warm up
        for _ in range(calls):
            start = time.perf_counter()
            reply = client.joint_punishment(SUBJECT, "flights_and_rail")
            out.append((time.perf_counter() - start) * 1000)
            assert not reply.restricted
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure and print both runs and the difference."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        city, province = city_and_province(root)
        ports = {CITY: _free_port(), PROVINCE: _free_port()}
        trust(city, province, target=f"127.0.0.1:{ports[PROVINCE]}")
        trust(province, city, target=f"127.0.0.1:{ports[CITY]}")
        running = []
        results: dict[str, list[float]] = {}
        try:
            prov = Gateway.open(Config(data_dir=root / "province-data", keys_dir=province.keys,
                                       policies_dir=province.policies, development=True,
                                       platform_id=PROVINCE, peer_push_interval_s=3600.0))
            running.append((prov, start_server(prov, listen=f"127.0.0.1:{ports[PROVINCE]}")))
            for name, ask in (("baseline (no peer)", ""), ("asks the province", PROVINCE)):
                data = root / f"city-data-{'ask' if ask else 'alone'}"
                gw = Gateway.open(Config(data_dir=data, keys_dir=city.keys,
                                         policies_dir=city.policies, development=True,
                                         platform_id=CITY, peer_push_interval_s=3600.0,
                                         ask_peer=ask, ask_peer_budget_s=5.0))
                port = _free_port()
                server = start_server(gw, listen=f"127.0.0.1:{port}")
                running.append((gw, server))
                results[name] = _latencies(gw, city.keys, port, args.calls)
        finally:
            for gw, server in reversed(running):
                server.stop(grace=0.5)
                gw.close()
    base = results["baseline (no peer)"]
    for name, lat in results.items():
        ordered = sorted(lat)
        print(f"{name:22} median {statistics.median(lat):7.2f} ms   "
              f"p95 {ordered[int(0.95 * len(ordered)) - 1]:7.2f} ms   ({len(lat)} calls)")
    asked = results["asks the province"]
    added = statistics.median(asked) - statistics.median(base)
    print(f"added by asking the province: {added:.2f} ms at the median "
          f"({statistics.median(asked) / statistics.median(base):.2f}x the baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
