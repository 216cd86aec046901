"""Fixtures of the crypto tests: a temporary SoftHSM2 token for the whole session."""

from __future__ import annotations

import pytest

from tests.crypto.softhsm import SoftHsm, make_softhsm


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A fresh SoftHSM2 token (SOFTHSM2_CONF points at a temporary folder)."""
    return make_softhsm(tmp_path_factory.mktemp("softhsm"))
