"""peer.toml, where a peer gateway listens, is strict: a misspelt, missing or mistyped key
is refused with its file and line, never read as absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.identify.trust import PeerAddress, PeerBundle, PeerFile
from gateway.strict_toml import decode
from tests.strict_files import Variant, check, group_id, grouped, variants

TEXT = '# where the province listens\ntarget = "province-gw.example:7443"\n' \
       'server_name = "province-gw.example"\n'
GROUPS = grouped(variants("peer.toml", TEXT, PeerFile))


def bundle(tmp_path: Path, text: str) -> PeerBundle:
    (tmp_path / "peer.toml").write_text(text, encoding="utf-8")
    return PeerBundle(peer="province", directory=tmp_path, anchors=(), sign_key=None)


@pytest.mark.parametrize("group", GROUPS, ids=[group_id(g) for g in GROUPS])
def test_every_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: decode(doc, PeerFile, file="peer.toml", text=text),
              ConfigurationError)


def test_every_kind_of_break_is_covered() -> None:
    assert {v.kind for g in GROUPS for v in g} == {"misspelt", "misspelt in the file",
                                                   "missing", "wrong type"}


def test_the_address_is_read_and_a_typo_refused_at_its_line(tmp_path: Path) -> None:
    assert bundle(tmp_path, TEXT).address() == PeerAddress("province-gw.example:7443",
                                                           "province-gw.example")
    assert bundle(tmp_path, TEXT.split("server_name")[0]).address() == PeerAddress(
        "province-gw.example:7443", "province-gw.example")
    with pytest.raises(ConfigurationError) as info:
        bundle(tmp_path, TEXT.replace("server_name", "server_nmae")).address()
    assert info.value.message == f"{tmp_path / 'peer.toml'}:3: unknown key server_nmae"
    with pytest.raises(ConfigurationError) as info:
        bundle(tmp_path, TEXT.replace('"province-gw.example:7443"', "7443")).address()
    assert info.value.message == (f"{tmp_path / 'peer.toml'}:2: target must be "
                                  '"host:port", not an integer')
