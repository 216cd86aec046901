"""Fixtures of the platform tests (several instances, database faults)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.platform.instances import fresh_database, url_of


@pytest.fixture
def on_postgres(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[LiveGateway, str]]:
    """A live gateway whose store is a fresh PostgreSQL database, and its conninfo."""
    with fresh_database() as conninfo:
        live = start_live(tmp_path, clock, database=url_of(conninfo))
        try:
            yield live, conninfo
        finally:
            stop_live(live)
