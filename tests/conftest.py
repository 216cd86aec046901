"""Shared fixtures: the real catalogue and policies, synthetic people, a fixed clock."""

from __future__ import annotations

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
#: Test modules that start processes themselves.
E2E_MODULES = frozenset({"test_serve.py", "test_packaging.py", "test_serve_workers.py",
                         "test_shared_log.py", "test_shared_gateways.py",
                         "test_log_migration.py", "test_entry_signatures.py",
                         "test_connection_age.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark end-to-end tests `e2e`, so `pytest -m "not e2e"` runs the unit tests alone."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & E2E_FIXTURES or item.path.name in E2E_MODULES \
                or item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.e2e)
