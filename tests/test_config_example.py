"""The commented example configuration covers every setting and loads as written."""

from __future__ import annotations

import tomllib
from dataclasses import fields

from gateway.config import Config, load_config
from tests.support import REPO

EXAMPLE = REPO / "credgate.example.toml"


def test_the_example_names_every_setting_and_loads() -> None:
    with EXAMPLE.open("rb") as fh:
        written = set(tomllib.load(fh)["gateway"])
    assert written == {f.name for f in fields(Config)}
    config = load_config(EXAMPLE)
    assert config.two_person and not config.development
    assert str(config.keys_dir) == "/etc/credgate/keys"


def test_the_readme_points_to_it() -> None:
    assert "credgate.example.toml" in (REPO / "README.md").read_text(encoding="utf-8")
