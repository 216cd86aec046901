"""A maximum connection age sends clients to reconnect, and calls go on working."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.clock import FixedClock
from tests.live_gateway import start_live, stop_live
from tests.services.records_data import debtor_record
from tests.support import NOW


def test_calls_work_across_a_connection_age(tmp_path: Path) -> None:
    live = start_live(tmp_path, FixedClock(NOW), max_connection_age_s=0.5)
    try:
        court = live.client("court")
        court.submit_records([debtor_record("AGE-1")])
        time.sleep(1.5)  # the server has asked the client to go away meanwhile
        assert court.submit_records([debtor_record("AGE-2")]).results[0].created
    finally:
        stop_live(live)
