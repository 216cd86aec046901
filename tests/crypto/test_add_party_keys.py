"""Adding one party to a development key set: issued by the set's own CA, nothing else moves."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.catalogue.registry import Party
from gateway.crypto.key_files import add_party_keys
from gateway.errors import ConfigurationError
from tests.support import KEYS

NEWCOMER = Party(id="county_office", name="County Credit Office", name_zh="县信用办",
                 kind="department", roles=("department",))


def test_a_new_party_chains_to_the_existing_ca_and_others_stay(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    before = (keys / "ca.crt").read_bytes(), (keys / "parties" / "court.crt").read_bytes()
    add_party_keys(keys, NEWCOMER, now=datetime(2026, 1, 1, tzinfo=UTC))
    cert = x509.load_pem_x509_certificate((keys / "parties" / "county_office.crt").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate((keys / "ca.crt").read_bytes()))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "county_office"
    assert (keys / "parties" / "county_office.sign.pub").exists()
    assert ((keys / "parties" / "county_office.key").stat().st_mode & 0o777) == 0o600
    assert ((keys / "ca.crt").read_bytes(),
            (keys / "parties" / "court.crt").read_bytes()) == before
    with pytest.raises(ConfigurationError, match="already has keys"):
        add_party_keys(keys, NEWCOMER)
    with pytest.raises(ConfigurationError, match="cannot be used"):
        add_party_keys(keys, Party(id="../court", name="x", name_zh="x", kind="department",
                                   roles=()))
