"""Fixtures of the console tests (see world.py)."""

from tests.console.world import browser, world  # noqa: F401
