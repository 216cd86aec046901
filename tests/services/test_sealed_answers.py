"""Sealed answers: a party with a registered X25519 key gets its records sealed to it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.client import CredgateClient, PartyCredentials
from gateway.crypto.sealing import generate_box_key, load_box_key
from gateway.crypto.signers import load_verifier
from gateway.errors import ConfigurationError, DecryptionError
from gateway.respond.answers import open_records, verify_answer
from tests.live_gateway import LiveGateway
from tests.services.records_data import NAME, debtor_record, identity_record
from tests.support import ADULT, KEYS


@pytest.fixture(scope="module")
def sealed_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The development keys, with an X25519 key pair registered for org_department."""
    keys = tmp_path_factory.mktemp("sealed") / "keys"
    shutil.copytree(KEYS, keys)
    assert main(["keys", "box-key", "org_department", "--keys", str(keys)]) == 0
    return keys


def test_records_travel_sealed_and_the_client_opens_them(
        live_factory: Callable[..., LiveGateway], sealed_keys: Path) -> None:
    live = live_factory(keys_dir=sealed_keys)
    live.client("court", sealed_keys).submit_records([debtor_record("E-1")])
    live.client("public_security", sealed_keys).submit_records([identity_record()])
    client = live.client("org_department", sealed_keys)
    opened = client.query_subject(ADULT, "cadre_selection")
    assert NAME in [f.value for r in opened.records for f in r.fields]
    # As it travels: no record, no name, only the sealed box, under the gateway's signature.
    kept = client.query_subject(ADULT, "cadre_selection", keep_sealed=True)
    assert not kept.records and kept.sealed_records
    wire = kept.SerializeToString()
    for secret in (NAME, "E-1"):  # released_categories (policy, not data) stay in clear
        assert secret.encode("utf-8") not in wire
    verify_answer(kept, load_verifier(sealed_keys / "gateway.answer.pub"),
                  party="org_department")
    box = load_box_key(sealed_keys / "parties" / "org_department.box.key")
    assert {r.record_id for r in open_records(kept, box).records} == {
        r.record_id for r in opened.records}
    with pytest.raises(DecryptionError):
        open_records(kept, generate_box_key())
    # A party that registered no key gets its records as before.
    assert live.client("market_regulator", sealed_keys).query_subject(
        ADULT, "joint_punishment").sealed_records == b""
    # A client that lost its box key cannot read a sealed answer, and says so.
    credentials = PartyCredentials.from_keys_dir(sealed_keys, "org_department")
    keyless = CredgateClient(live.target, PartyCredentials(
        **{**credentials.__dict__, "box_key": None}), clock=live.gw.clock)
    live.clients.append(keyless)
    with pytest.raises(ConfigurationError):
        keyless.query_subject(ADULT, "cadre_selection")
