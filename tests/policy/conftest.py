"""Fixtures for the policy tests: the city's catalogue and policies, and scratch policies."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import gateway.cli
from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.cli import policy as policy_cli
from gateway.policy.decide import PolicyEngine

POLICIES = Path(__file__).resolve().parents[2] / "policies"

WritePolicy = Callable[..., Path]


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The city's catalogue from policies/."""
    return load_catalogue(POLICIES)


@pytest.fixture(scope="session")
def city(catalogue: Catalogue) -> PolicyEngine:
    """The city's real policy."""
    return PolicyEngine.load(POLICIES, catalogue)


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """Write policy.csv (and optionally model.conf) into a scratch policies directory."""

    def write(policy: str, model: str | None = None) -> Path:
        if model is None:
            shutil.copy(POLICIES / "model.conf", tmp_path / "model.conf")
        else:
            (tmp_path / "model.conf").write_text(model, encoding="utf-8")
        (tmp_path / "policy.csv").write_text(policy, encoding="utf-8")
        return tmp_path

    return write


@pytest.fixture
def load_policy(write_policy: WritePolicy, catalogue: Catalogue) -> Callable[[str], PolicyEngine]:
    """Load a scratch policy.csv against the real model and catalogue."""

    def load(policy: str) -> PolicyEngine:
        return PolicyEngine.load(write_policy(policy), catalogue)

    return load


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the policy command group, as gateway/cli/__init__.py does."""
    if policy_cli not in gateway.cli.COMMAND_GROUPS:
        monkeypatch.setattr(gateway.cli, "COMMAND_GROUPS",
                            (*gateway.cli.COMMAND_GROUPS, policy_cli))


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the shipped policies to edit."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    return dest
