"""`credgate peers`: an operator makes the platform identity, exports the trust bundle,
and the peer lists it once installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.identify.trust import load_peer_trust
from tests.peers.platforms import CITY, make_platform


def test_identity_export_install_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    city = make_platform(tmp_path, "town")  # a key set without the platform identity yet
    assert main(["peers", "identity", CITY, "--keys", str(city.keys)]) == 0
    assert (city.keys / "parties" / f"{CITY}.crt").is_file()
    province_keys = make_platform(tmp_path, "prov").keys
    out = province_keys / "peers" / CITY
    assert main(["peers", "export-bundle", CITY, "--keys", str(city.keys), "--out", str(out),
                 "--target", "127.0.0.1:7443", "--server-name", "localhost"]) == 0
    assert {p.name for p in out.iterdir()} == {"ca.crt", "sign.pub", "answer.pub",
                                               "peer.toml"}
    capsys.readouterr()
    assert main(["peers", "list", "--keys", str(province_keys), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["peer"] == CITY and listed["signing_key"] and \
        listed["target"] == "127.0.0.1:7443"
    trust = load_peer_trust(province_keys)
    assert trust is not None and CITY in trust.bundles


def test_a_second_identity_is_refused(tmp_path: Path) -> None:
    city = make_platform(tmp_path, "town")
    assert main(["peers", "identity", CITY, "--keys", str(city.keys)]) == 0
    assert main(["peers", "identity", CITY, "--keys", str(city.keys)]) == 2
