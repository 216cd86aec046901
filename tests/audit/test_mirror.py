"""Regulators' mirrors: tlog-tiles served to regulators only, fetched, verified, appended.

A gateway whose log was rolled back or forked is refused loudly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.audit.merkle import leaf_hash
from gateway.audit.mirror import Mirror, MirrorRefused
from gateway.audit.tiles import Tile, encode_index, parse_tile, read_tile, unbundle
from gateway.cli import main
from gateway.clock import FixedClock
from gateway.errors import InvalidArgument
from tests.audit.shared_support import make_backend, open_log
from tests.audit.tamper import LOG_PUB, make_entry
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def test_tile_paths_follow_tlog_tiles() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(5) == "005"
    assert parse_tile("tile/0/x001/x234/067") == Tile(0, 1234067, 256)
    assert parse_tile("tile/entries/000.p/7") == Tile(None, 0, 7)
    assert Tile(2, 1, 9).path == "tile/2/001.p/9"
    for bad in ("tile/0/1", "tile/0/x000/001", "tile/9/000", "tile/entries/000.p/256",
                "tile/entries/000.p/07", "tiles/0/000", "tile/0/000.p/0", "checkpoint/x"):
        with pytest.raises(InvalidArgument):
            parse_tile(bad)


def test_a_regulator_mirrors_the_gateway(live: LiveGateway, tmp_path: Path) -> None:
    live.client("court").submit_records([debtor_record("MIR-1")])
    folder = tmp_path / "mirror"
    argv = ["audit", "mirror", str(folder), "--target", live.target]
    assert main(argv) == 0
    first = (folder / "checkpoint").read_text()
    live.client("court").submit_records([debtor_record("MIR-2")])
    live.client("regulator").audit.GetCheckpoint(pb.GetCheckpointRequest(fresh=True),
                                                 timeout=10)
    assert main(argv) == 0
    assert (folder / "checkpoint").read_text() != first
    lines = (folder / "log.jsonl").read_bytes().splitlines()
    size = int((folder / "checkpoint").read_text().split("\n")[1])
    assert len(lines) == size
    assert lines == [data for _, data in live.gw.audit.read_raw(start=1, limit=size)]
    # Hash tiles are the tree's nodes: level 0 holds the leaf hashes.
    regulator = live.client("regulator").audit
    tile = regulator.GetTile(pb.TileRequest(path=Tile(0, 0, size).path), timeout=10).data
    assert tile == b"".join(leaf_hash(line) for line in lines)
    bundle = regulator.GetTile(pb.TileRequest(path=Tile(None, 0, size).path), timeout=10).data
    assert unbundle(bundle) == lines


def test_tiles_are_for_regulators_only(live: LiveGateway) -> None:
    for party in ("court", "credit_website", "citizen_portal"):
        with pytest.raises(grpc.RpcError) as info:
            live.client(party).audit.GetTile(pb.TileRequest(path="checkpoint"), timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:
        live.client("regulator").audit.GetTile(pb.TileRequest(path="tile/../../etc"),
                                               timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:  # beyond the newest checkpoint
        live.client("regulator").audit.GetTile(pb.TileRequest(path="tile/entries/x999/000"),
                                               timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _fetchers(log, evidence):  # type: ignore[no-untyped-def]
    return (lambda path: read_tile(path, log, evidence),
            lambda old, new: evidence.tree.consistency_proof(old, new))


def test_a_rolled_back_or_forked_log_is_refused(tmp_path: Path) -> None:
    mirror = Mirror(tmp_path / "mirror", LOG_PUB)
    with open_log(make_backend("sqlite", tmp_path / "a"), tmp_path / "ia") as (log, ev):
        log.append_many(make_entry(i) for i in range(300))
        ev.checkpointer.checkpoint_now()
        assert mirror.update(*_fetchers(log, ev)).new_size == 300
        log.append_many(make_entry(i) for i in range(300, 310))
        ev.checkpointer.checkpoint_now()
        assert mirror.update(*_fetchers(log, ev)).old_size == 300
    # Another log under the same key and origin: shorter (a restore), then longer (a fork).
    with open_log(make_backend("sqlite", tmp_path / "b"), tmp_path / "ib") as (log, ev):
        log.append_many(make_entry(i) for i in range(200))
        ev.checkpointer.checkpoint_now()
        with pytest.raises(MirrorRefused) as info:
            mirror.update(*_fetchers(log, ev))
        assert info.value.reason == "rolled_back" and "ROLLED BACK" in info.value.message
        log.append_many(make_entry(i, reason="other") for i in range(200, 400))
        ev.checkpointer.checkpoint_now()
        with pytest.raises(MirrorRefused) as info:
            mirror.update(*_fetchers(log, ev))
        assert info.value.reason == "fork"
    assert len((tmp_path / "mirror" / "log.jsonl").read_bytes().splitlines()) == 310
