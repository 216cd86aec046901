"""A real gateway over mTLS on loopback, on real SQLite files, with the development keys.

The `live` and `live_factory` fixtures are registered in tests/conftest.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import Gateway
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import FixedClock
from gateway.config import Config
from gateway.server import RunningServer, start_server
from tests.support import KEYS, POLICIES


class LogCapture(logging.Handler):
    """Keeps every log record emitted while the gateway runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class LiveGateway:
    """A started gateway, its parts, and what it traced and logged."""

    gw: Gateway
    server: RunningServer
    spans: InMemorySpanExporter
    logs: LogCapture
    clients: list[CredgateClient] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(self, party: str, keys: Path = KEYS) -> CredgateClient:
        """A connected client for a party (closed at teardown)."""
        c = CredgateClient(self.target, PartyCredentials.from_keys_dir(keys, party),
                           clock=self.gw.clock)
        self.clients.append(c)
        return c

    def client_with(self, credentials: PartyCredentials) -> CredgateClient:
        """A client with arbitrary credentials (for identity tests)."""
        c = CredgateClient(self.target, credentials, clock=self.gw.clock)
        self.clients.append(c)
        return c


def start_live(tmp_path: Path, clock: FixedClock, *, policies: Path = POLICIES,
               listen: str = "127.0.0.1:0", **settings: Any) -> LiveGateway:
    """Open and start a gateway in tmp_path (settings override Config fields)."""
    # One officer may roll out test policies; the monitor's passes run when a test asks
    # (monitor_interval_s or Gateway.monitor.step), so no alert lands in another's log.
    settings = {"development": True, "monitor_interval_s": 0, **settings}
    config = Config(**{"data_dir": tmp_path / "data", "keys_dir": KEYS,
                       "policies_dir": policies, "max_workers": 8,
                       "audit_busy_timeout_ms": 300, **settings})
    spans = InMemorySpanExporter()
    logs = LogCapture()
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.DEBUG)
    gw = Gateway.open(config, clock=clock, span_exporter=spans)
    server = start_server(gw, listen=listen)
    return LiveGateway(gw=gw, server=server, spans=spans, logs=logs)


def stop_live(live: LiveGateway) -> None:
    """Close clients, stop the server, close the gateway."""
    for c in live.clients:
        c.close()
    live.server.stop(grace=0.5)
    live.gw.close()
    logging.getLogger().removeHandler(live.logs)


@pytest.fixture
def live(tmp_path: Path, clock: FixedClock) -> Iterator[LiveGateway]:
    """A running gateway for one test."""
    running = start_live(tmp_path, clock)
    try:
        yield running
    finally:
        stop_live(running)


@pytest.fixture
def live_factory(tmp_path: Path, clock: FixedClock) -> Iterator[Callable[..., LiveGateway]]:
    """Start gateways with custom policies; all are stopped at teardown."""
    started: list[LiveGateway] = []

    def make(*, policies: Path = POLICIES, subdir: str = "gw", **settings: Any) -> LiveGateway:
        running = start_live(tmp_path / subdir, clock, policies=policies, **settings)
        started.append(running)
        return running

    try:
        yield make
    finally:
        for running in started:
            stop_live(running)
