"""The demo's platforms section: the city and the province exchange records.

Two more gateways on loopback, each with its own development CA, keys, policies and
data (gateway/peers/dev.py): a court listing goes up to the province through the city's
outbox, a provincial listing comes down and restricts the person in a city check, and a
lifted listing leaves the province. Each step reports what happened and whether that is
what the rules say.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from gateway.app import Gateway
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import city_today
from gateway.config import Config
from gateway.peers.dev import CITY, PROVINCE, Platform, city_and_province, trust
from gateway.pii.idnumber import make_id_number
from gateway.protect.masking import mask_id_number
from gateway.server import RunningServer, start_server
from gateway.services.peers import received_request_id

#: (who, asked, got, as expected) -> None
Report = Callable[[str, str, str, bool], None]
LISTED_HERE = make_id_number("330108", date(1979, 8, 21), 37)
LISTED_THERE = make_id_number("330110", date(1985, 2, 9), 64)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listing(subject: str, source: str, today: date, court: str) -> dict[str, object]:
    return {"subject_id": subject, "category": "dishonest_debtor", "severity": "serious",
            "event_date": (today - timedelta(days=60)).isoformat(),
            "source_record_id": source,
            "fields": {"debtor_name": "周建国", "case_number": source, "court_name": court,
                       "obligation": "支付工程款人民币80,000元", "performance": "未履行",
                       "amount": "80000.00", "address": "浙江省杭州市上城区解放路8号"}}


def run_peers(workdir: Path, report: Report) -> None:
    """City and province, each with its own CA, exchange listings both ways."""
    city, province = city_and_province(workdir / "platforms")
    ports = {CITY: _free_port(), PROVINCE: _free_port()}
    trust(city, province, target=f"127.0.0.1:{ports[PROVINCE]}")
    trust(province, city, target=f"127.0.0.1:{ports[CITY]}")
    started: dict[str, tuple[Gateway, RunningServer]] = {}
    try:
        for platform in (city, province):
            config = Config(data_dir=workdir / f"{platform.name}-data", keys_dir=platform.keys,
                            policies_dir=platform.policies, development=True,
                            listen=f"127.0.0.1:{ports[platform.name]}",
                            platform_id=platform.name, peer_push_interval_s=3600.0)
            gw = Gateway.open(config)
            started[platform.name] = (gw, start_server(gw, listen=config.listen))
        _exchange(started, {CITY: city, PROVINCE: province}, ports, report)
    finally:
        for gw, server in started.values():
            server.stop(grace=1.0)
            gw.close()


def _exchange(started: dict[str, tuple[Gateway, RunningServer]],
              platforms: dict[str, Platform], ports: dict[str, int], report: Report) -> None:
    city_gw, province_gw = started[CITY][0], started[PROVINCE][0]
    assert city_gw.outbox is not None and province_gw.outbox is not None

    def client(where: str, party: str) -> CredgateClient:
        return CredgateClient(f"127.0.0.1:{ports[where]}",
                              PartyCredentials.from_keys_dir(platforms[where].keys, party))

    today = city_today(city_gw.clock)
    here, there = mask_id_number(LISTED_HERE), mask_id_number(LISTED_THERE)
    with client(CITY, "court") as court, client(PROVINCE, "org_department") as prov_org, \
            client(PROVINCE, "court") as prov_court, client(CITY, "tax_bureau") as tax:
        listed = court.submit_records([_listing(LISTED_HERE, "(2026)浙01执2468号", today,
                                                "某市中级人民法院")]).results[0]
        sent = city_gw.outbox.drain()
        report("city", "outbox: push the court listing to the province",
               f"{sent} change(s) pushed, signed, audited on both sides", sent >= 1)
        seen = prov_org.query_subject(LISTED_HERE, "cadre_selection").records
        masked = [f.name for r in seen for f in r.fields if f.disclosure == 2]
        report("province", f"org_department: query {here} for cadre_selection",
               f"{len(seen)} record from {seen[0].origin if seen else '-'} "
               f"({seen[0].origin_provider if seen else '-'}), masked: {', '.join(masked)}",
               [r.origin for r in seen] == [CITY] and "address" in masked)
        prov_court.submit_records([_listing(LISTED_THERE, "(2026)浙高执1357号", today,
                                            "某省高级人民法院")])
        province_gw.outbox.drain()
        check = tax.joint_punishment(LISTED_THERE, "high_consumption")
        report("city", f"tax_bureau: joint punishment {there} (listed at the province)",
               f"restricted={check.restricted}", check.restricted)
        court.remove_record(record_id=listed.record_id, reason="listing_period_ended")
        city_gw.outbox.drain()
        gone = prov_org.query_subject(LISTED_HERE, "cadre_selection").records
        report("province", f"org_department: query {here} after the city court lifted it",
               f"{len(gone)} record(s); nothing of the person kept there", not gone)
    pushes = [e for _, e in city_gw.audit.read(start=1, limit=1000) if e.action == "peer.push"]
    received = {e.request_id: e.request_signature
                for _, e in province_gw.audit.read(start=1, limit=1000)
                if e.action == "peer.receive"}
    # The province names each push by the city's batch id with the sender.
    same = all(received.get(received_request_id(CITY, e.request_id)) == e.request_signature
               for e in pushes if e.reason == f"to {PROVINCE}")
    report("both logs", "each push audited under the city's request signature",
           f"{len(pushes)} push(es), the same signature on both sides: {same}", same)
