"""Shared fixtures: the real catalogue and policies, synthetic people, a fixed clock."""

from __future__ import annotations

import pytest

from gateway.clock import FixedClock
from gateway.records.catalogue import Catalogue, load_catalogue
from tests.support import NOW, POLICIES


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
