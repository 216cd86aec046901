"""Settings: file, then CREDGATE_* variables, then explicit overrides; unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigurationError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "credgate.toml"
    path.write_text('[gateway]\nlisten = "127.0.0.1:9000"\nmax_workers = 4\n'
                    'data_dir = "/srv/credgate"\n', encoding="utf-8")
    monkeypatch.setenv("CREDGATE_MAX_WORKERS", "6")
    config = load_config(path, listen="127.0.0.1:9443")
    assert config.listen == "127.0.0.1:9443"
    assert config.max_workers == 6
    assert config.records_db == Path("/srv/credgate/records.db")


def test_unknown_setting_refused(tmp_path: Path) -> None:
    path = tmp_path / "credgate.toml"
    path.write_text('[gateway]\nlisen = "typo"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unknown config settings"):
        load_config(path)


def test_unreadable_file_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_config(tmp_path / "missing.toml")
