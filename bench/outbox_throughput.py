"""Outbox throughput to a peer beside plain SubmitRecords throughput, in one run.

    python -m bench.outbox_throughput [--records 2000] [--batch 100] [--database URL]

Three gateways on loopback, each with its own development CA, keys and data: a plain
city with no peers (the baseline), and a city that shares with a province. Measured:

- SubmitRecords at the plain city: records/s the court submits (batches of --batch, one
  caller, each batch one audit entry);
- SubmitRecords at the sharing city: the same, with each record's outbox row written in
  its transaction;
- the outbox: records/s the sharing city pushes to the province, each push decided and
  protected per record, audited at the city (before and after), signed, verified,
  audited at the province under the city's signature and stored there under the
  province's keys.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from gateway.app import Gateway
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.peers.dev import CITY, PROVINCE, city_and_province, make_platform, trust
from gateway.pii.idnumber import make_id_number
from gateway.server import RunningServer, start_server


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _records(prefix: str, count: int) -> list[dict[str, object]]:
    return [{"subject_id": make_id_number("330106", date(1970 + n % 40, 1 + n % 12, 1 + n % 28),
                                          n % 999),
             "category": "dishonest_debtor", "severity": "serious", "event_date": "2026-05-01",
             "source_record_id": f"({prefix})执{n:06d}号",
             "fields": {"debtor_name": "欧阳明远", "case_number": f"({prefix})执{n:06d}号",
                        "court_name": "某市中级人民法院", "obligation": "支付货款及利息",
                        "performance": "未履行", "amount": "120000.00",
                        "address": "浙江省杭州市西湖区文三路100号3幢201室"}}
            for n in range(count)]


def _open(root: Path, name: str, keys: Path, policies: Path, port: int,
          database: str, **settings: object) -> tuple[Gateway, RunningServer]:
    config = Config(data_dir=root / f"{name}-data", keys_dir=keys, policies_dir=policies,
                    listen=f"127.0.0.1:{port}", development=True, database=database,
                    database_schema=f"credgate_bench_{name}_{port}",
                    audit_checkpoint_interval_s=0, **settings)  # type: ignore[arg-type]
    gw = Gateway.open(config, clock=SystemClock())
    return gw, start_server(gw, listen=config.listen)


def _drop_schema(database: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _submit(target: str, keys: Path, records: list[dict[str, object]], batch: int) -> float:
    """Seconds to submit the records as the court, batch by batch."""
    with CredgateClient(target, PartyCredentials.from_keys_dir(keys, "court")) as court:
        began = time.perf_counter()
        for i in range(0, len(records), batch):
            court.submit_records(records[i:i + batch], timeout=120)
        return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    """Run the three measurements and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--database", default="sqlite",
                        help="sqlite, or a postgresql:// URL (each gateway a schema)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="credgate-outbox-bench-") as tmp:
        root = Path(tmp)
        city, province = city_and_province(root)
        plain = make_platform(root, "plain")
        ports = {name: _port() for name in (CITY, PROVINCE, "plain")}
        trust(city, province, target=f"127.0.0.1:{ports[PROVINCE]}")
        trust(province, city)
        opened = [
            _open(root, "plain", plain.keys, plain.policies, ports["plain"], args.database),
            _open(root, PROVINCE, province.keys, province.policies, ports[PROVINCE],
                  args.database),
            _open(root, CITY, city.keys, city.policies, ports[CITY], args.database,
                  platform_id=CITY, peer_push_interval_s=3600.0,
                  peer_push_batch=args.batch),
        ]
        try:
            city_gw = opened[2][0]
            assert city_gw.outbox is not None
            plain_s = _submit(f"127.0.0.1:{ports['plain']}", plain.keys,
                              _records("plain", args.records), args.batch)
            shared_s = _submit(f"127.0.0.1:{ports[CITY]}", city.keys,
                               _records("city", args.records), args.batch)
            # Pushed per batch of --batch, measured to the last acknowledgement.
            began = time.perf_counter()
            pushed = city_gw.outbox.drain()
            push_s = time.perf_counter() - began
            held = len(opened[1][0].store.records_page(limit=args.records + 10))
            assert pushed >= args.records and held == args.records, (pushed, held)
        finally:
            for gw, server in reversed(opened):
                server.stop(grace=0.5)
                gw.close()
                if args.database != "sqlite":  # the schemas this run made, and only those
                    _drop_schema(args.database, gw.config.database_schema)
    n = args.records
    rows = [("SubmitRecords, no peers (baseline)", n / plain_s),
            ("SubmitRecords, sharing with the province", n / shared_s),
            ("outbox push to the province (both audits)", n / push_s)]
    print(f"{n} dishonest-debtor records, batches of {args.batch}, {args.database}")
    print(f"{'':44} {'records/s':>10} {'x baseline':>11}")
    for name, rate in rows:
        print(f"{name:44} {rate:10.0f} {rate / rows[0][1]:10.2f}x")


if __name__ == "__main__":
    main()
