"""Settings: file, then CREDGATE_* variables, then explicit overrides; unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Config, load_config
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


@pytest.mark.parametrize("text", ['listen = "0.0.0.0:1"\n', '[gatway]\nlisten = "x"\n',
                                  'gateway = "x"\n'])
def test_settings_outside_the_gateway_table_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "credgate.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\[gateway\] table"):
        load_config(path)


@pytest.mark.parametrize("value, expected", [("true", True), ("YES", True), (" on ", True),
                                             ("1", True), ("false", False), ("off", False),
                                             ("0", False)])
def test_the_two_person_rule_reads_clear_yes_and_no(monkeypatch: pytest.MonkeyPatch,
                                                    value: str, expected: bool) -> None:
    monkeypatch.setenv("CREDGATE_POLICY_TWO_PERSON", value)
    monkeypatch.setenv("CREDGATE_DEVELOPMENT", "true")
    assert load_config().policy_two_person is expected
    assert load_config().two_person is expected


def test_the_two_person_rule_is_on_unless_development(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config().two_person is True
    assert Config().two_person is True
    assert load_config(development=True).two_person is False
    assert load_config(development=True, policy_two_person=True).two_person is True
    monkeypatch.setenv("CREDGATE_DEVELOPMENT", "yes")
    assert load_config().two_person is False


@pytest.mark.parametrize("source", ["env", "file", "override", "constructor"])
def test_turning_the_two_person_rule_off_outside_development_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str) -> None:
    with pytest.raises(ConfigurationError, match="development"):
        if source == "env":
            monkeypatch.setenv("CREDGATE_POLICY_TWO_PERSON", "off")
            load_config()
        elif source == "file":
            path = tmp_path / "c.toml"
            path.write_text("[gateway]\npolicy_two_person = false\ndevelopment = false\n")
            load_config(path)
        elif source == "override":
            load_config(policy_two_person=False)
        else:
            Config(policy_two_person=False)


@pytest.mark.parametrize("value", ["maybe", "", "2", "dev"])
def test_an_unclear_development_setting_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                   value: str) -> None:
    monkeypatch.setenv("CREDGATE_DEVELOPMENT", value)
    with pytest.raises(ConfigurationError, match="development"):
        load_config()


@pytest.mark.parametrize("value", ["enabled", "y", "ja", "", "2"])
def test_an_unclear_two_person_setting_is_refused_not_taken_as_off(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CREDGATE_POLICY_TWO_PERSON", value)
    with pytest.raises(ConfigurationError, match="policy_two_person"):
        load_config()


@pytest.mark.parametrize("name, value", [
    ("BLACKLIST_CACHE_S", "inf"), ("BLACKLIST_CACHE_S", "-1"),
    ("AUDIT_CHECKPOINT_INTERVAL_S", "nan"), ("AUDIT_CHECKPOINT_INTERVAL_S", "1e9"),
    ("MAX_WORKERS", "sixteen"), ("MAX_WORKERS", "0"), ("REQUEST_WINDOW_S", "1.5"),
    ("AUDIT_BUSY_TIMEOUT_MS", "-5"),
])
def test_numbers_out_of_kind_or_range_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                  name: str, value: str) -> None:
    monkeypatch.setenv(f"CREDGATE_{name}", value)
    with pytest.raises(ConfigurationError, match=name.lower()):
        load_config()
