"""A gateway process's monitor alone, for the several-process tests of test_runner.py.

    python -m tests.monitoring.monitor_worker KIND WHERE DATA_DIR HOLDER DIE LEASE

Steps its runner until the saved position reaches the end of the log. DIE is "" or
"before_append:N" / "after_append:N": the process exits abruptly (os._exit) around the
audit append of its Nth alert, as a crash would. Prints {"alerts": n} at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from gateway.audit.backend import Backend, PostgresBackend, SqliteBackend
from gateway.catalogue.registry import load_catalogue
from gateway.clock import FixedClock
from gateway.monitoring.cursor import MonitorStore
from gateway.monitoring.rules import load_monitoring
from gateway.monitoring.runner import MonitorRunner
from tests.audit.shared_support import PG_URL, make_backend, open_log
from tests.support import NOW, POLICIES


def monitor_backend(kind: str, where: str) -> Backend:
    """Where the monitor keeps its place: monitor.db beside audit.db, or the same schema."""
    if kind == "sqlite":
        return SqliteBackend(Path(where) / "monitor.db", lock_timeout_ms=2000)
    return PostgresBackend(PG_URL, schema=where, lock_timeout_ms=2000)


def main(argv: list[str]) -> int:
    kind, where, data_dir, holder, die, lease = argv
    catalogue = load_catalogue(POLICIES)
    rules = load_monitoring(POLICIES, catalogue)
    with open_log(make_backend(kind, where), Path(data_dir)) as (log, _evidence):
        store = MonitorStore(monitor_backend(kind, where))
        runner = MonitorRunner(audit=log, store=store, clock=FixedClock(NOW),
                               rules=lambda: (rules, catalogue), holder=holder,
                               lease_seconds=float(lease))
        if die:
            point, count = die.split(":")
            seen = [0]

            def crash_at(call: Any, alert_entries_only: bool) -> Any:
                def wrapped(*args: Any, **kwargs: Any) -> Any:
                    if not alert_entries_only or args[0].action == "alert":
                        seen[0] += 1
                        if seen[0] == int(count):
                            os._exit(3)
                    return call(*args, **kwargs)
                return wrapped

            if point == "before_append":
                log.append = crash_at(log.append, True)  # type: ignore[method-assign]
            else:
                store.logged = crash_at(store.logged, False)  # type: ignore[method-assign]
        for _ in range(2000):
            runner.step()
            if store.load()[0] >= log.size():
                break
            time.sleep(0.05)
        print(json.dumps({"alerts": runner.alerts_logged}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
