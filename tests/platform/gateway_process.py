"""One gateway in a process of its own, for the tests of several instances on one database.

    python -m tests.platform.gateway_process DATA_DIR DATABASE [SETTINGS_JSON]

Serves on a free loopback port with the development keys and the shipped policies, on a
clock fixed at tests.support.NOW; prints ``port <n>`` when it serves, and stops when its
standard input closes (so it never outlives the test that started it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import Config
from gateway.server import start_server
from tests.support import KEYS, NOW, POLICIES


def main(argv: list[str]) -> None:
    data_dir, database = Path(argv[0]), argv[1]
    settings = json.loads(argv[2]) if len(argv) > 2 else {}
    if "policies_dir" in settings:  # JSON carries the folder as text
        settings["policies_dir"] = Path(settings["policies_dir"])
    config = Config(**{"data_dir": data_dir, "keys_dir": KEYS, "policies_dir": POLICIES,
                       "database": database, "max_workers": 8, **settings})
    gw = Gateway.open(config, clock=FixedClock(NOW))
    server = start_server(gw, listen="127.0.0.1:0")
    print(f"port {server.port}", flush=True)
    try:
        sys.stdin.read()  # until the test closes the pipe (or dies)
    finally:
        server.stop()
        gw.close()


if __name__ == "__main__":
    main(sys.argv[1:])
