"""Shared fixtures: the real catalogue and policies, synthetic people, a fixed clock."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from hypothesis import settings

from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.clock import FixedClock
from tests.support import NOW, POLICIES

# Hypothesis's per-example deadline measures the machine, not the code: on a shared,
# loaded 2-core machine (or CI) a slow example is not a failure. Example counts stay
# as each test sets them.
settings.register_profile("credgate", deadline=None)
settings.load_profile("credgate")


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The catalogue in policies/."""
    return load_catalogue(POLICIES)


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed at NOW, movable by the test."""
    return FixedClock(NOW)


# The running-gateway fixtures, shared by the service, CLI and later end-to-end tests.
from tests.live_gateway import live, live_factory  # noqa: E402, F401

#: Fixtures that start real servers, processes, browsers or databases: a test that uses
#: one (directly or through another fixture) is end to end; the rest are unit tests.
E2E_FIXTURES = frozenset({"live", "live_factory", "pg_store", "store"})
#: What in a test module's source shows it starts processes, browsers or tokens itself.
_E2E_SOURCE = re.compile(r"\bsubprocess\b|\bPopen\b|\bmultiprocessing\b|\bwebdriver\b"
                         r"|\bpkcs11\b|softhsm|\bLiveGateway\b|grpc\.server\(")


@functools.cache
def _starts_things(path: Path) -> bool:
    return bool(_E2E_SOURCE.search(path.read_text(encoding="utf-8")))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark end-to-end tests `e2e`, so `pytest -m "not e2e"` runs the unit tests alone:
    a test on PostgreSQL (a parameter named so), one using a fixture that starts a real
    part, or one in a module that starts processes, browsers or tokens itself."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgres" in callspec.id
        if names & E2E_FIXTURES or on_postgres or _starts_things(item.path) \
                or item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.e2e)
