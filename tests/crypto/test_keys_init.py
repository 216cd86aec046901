"""`keys init`: the development PKI chains, names parties right, and works with gRPC."""

from __future__ import annotations

import ipaddress
import logging
import stat
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.app import Gateway
from gateway.catalogue.registry import Party, load_catalogue
from gateway.config import Config
from gateway.crypto.key_files import (
    MARKER_FILE,
    PARTY_URI_PREFIX,
    UNKNOWN_PARTY,
    check_key_files,
    init_keys,
)
from gateway.crypto.keyring import load_keyring
from gateway.crypto.signatures import load_signing_key, load_verify_key, sign, verify
from gateway.errors import ConfigurationError
from tests.support import KEYS

ROOT = Path(__file__).resolve().parents[2]
#: Parties that get development certificates (a peer platform's come from its own CA).
PARTIES = [p for p in load_catalogue(ROOT / "policies").parties.values()
           if "platform" not in p.roles]
PLATFORMS = [p for p in load_catalogue(ROOT / "policies").parties.values()
             if "platform" in p.roles]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    init_keys(directory, [*PARTIES, *PLATFORMS], now=NOW)
    return directory


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _store(keys: Path) -> Store:
    return Store([_cert(keys / "ca.crt")])


def test_layout_has_every_file_and_says_development_only(keys: Path) -> None:
    expected = ["ca.crt", "ca.key", "gateway.crt", "gateway.key", "gateway.log.key",
                "gateway.log.pub", "gateway.answer.key", "gateway.answer.pub", "data-keys.toml",
                "README.txt", MARKER_FILE,
                "untrusted/ca.crt", "untrusted/court.crt", "untrusted/court.key",
                f"parties/{UNKNOWN_PARTY}.crt", f"parties/{UNKNOWN_PARTY}.key"]
    for party in PARTIES:
        expected += [f"parties/{party.id}.{ext}" for ext in ("crt", "key", "sign.key", "sign.pub")]
    for name in expected:
        assert (keys / name).is_file(), name
    assert (keys / MARKER_FILE).read_bytes() == b""
    readme = (keys / "README.txt").read_text()
    assert "DEVELOPMENT KEYS ONLY - NEVER USE IN PRODUCTION" in readme


def test_a_peer_platform_gets_no_certificate_of_this_ca(keys: Path) -> None:
    assert PLATFORMS, "policies/parties.toml names the province as a peer platform"
    for party in PLATFORMS:
        assert not list((keys / "parties").glob(f"{party.id}.*")), party.id


def test_private_keys_are_mode_0600_and_marked_development(keys: Path) -> None:
    private = [*keys.glob("*.key"), *keys.glob("*/*.key"), keys / "data-keys.toml"]
    # ca, gateway, gateway.log, gateway.answer; TLS and signing key per party; unknown,
    # untrusted; data keys
    assert len(private) == 4 + 2 * len(PARTIES) + 2 + 1
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert "DEVELOPMENT" in "".join(path.read_text().splitlines()[:3]), path
    for path in [*keys.glob("*.crt"), *keys.glob("*/*.crt")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_private_key_pem_with_warning_lines_loads_in_cryptography(keys: Path) -> None:
    for path in [keys / "ca.key", keys / "gateway.key", keys / "parties/court.key"]:
        assert path.read_text().startswith("# DEVELOPMENT KEY - NEVER USE IN PRODUCTION\n")
        serialization.load_pem_private_key(path.read_bytes(), password=None)


def test_ca_is_a_self_signed_ca(keys: Path) -> None:
    ca = _cert(keys / "ca.crt")
    assert _cn(ca) == "credgate development CA (NOT FOR PRODUCTION)"
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    ca.verify_directly_issued_by(ca)


def test_gateway_certificate_is_a_server_certificate_for_local_names(keys: Path) -> None:
    cert = _cert(keys / "gateway.crt")
    assert _eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    ]
    for name in (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("::1"))):
        verifier = PolicyBuilder().store(_store(keys)).time(NOW).build_server_verifier(name)
        verifier.verify(cert, [])


def test_party_certificates_name_the_party_and_chain_to_the_ca(keys: Path) -> None:
    verifier = PolicyBuilder().store(_store(keys)).time(NOW).build_client_verifier()
    for party in PARTIES:
        cert = _cert(keys / "parties" / f"{party.id}.crt")
        assert _cn(cert) == party.id
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        assert org == party.name
        assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        verified = verifier.verify(cert, [])
        assert verified.subjects == [x509.UniformResourceIdentifier(PARTY_URI_PREFIX + party.id)]


def test_party_certificate_is_not_a_server_certificate(keys: Path) -> None:
    verifier = (
        PolicyBuilder().store(_store(keys)).time(NOW)
        .build_server_verifier(x509.DNSName("localhost"))
    )
    with pytest.raises(VerificationError):
        verifier.verify(_cert(keys / "parties/court.crt"), [])


def test_untrusted_court_does_not_chain_to_the_ca(keys: Path) -> None:
    cert = _cert(keys / "untrusted/court.crt")
    assert _cn(cert) == "court"
    verifier = PolicyBuilder().store(_store(keys)).time(NOW).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(cert, [])
    cert.verify_directly_issued_by(_cert(keys / "untrusted/ca.crt"))


def test_unknown_party_chains_to_the_ca_but_is_not_registered(keys: Path) -> None:
    cert = _cert(keys / f"parties/{UNKNOWN_PARTY}.crt")
    assert _cn(cert) == UNKNOWN_PARTY not in {party.id for party in PARTIES}
    PolicyBuilder().store(_store(keys)).time(NOW).build_client_verifier().verify(cert, [])


def test_signing_keys_sign_and_verify_per_party(keys: Path) -> None:
    for stem in ["gateway.log", *(f"parties/{party.id}.sign" for party in PARTIES)]:
        private = load_signing_key(keys / f"{stem}.key")
        public = load_verify_key(keys / f"{stem}.pub")
        verify(public, b"message", sign(private, b"message"))


def test_data_keys_load_and_are_marked_development(keys: Path) -> None:
    keyring = load_keyring(keys)
    assert keyring.active_master_id in keyring.master_keys
    assert "DEVELOPMENT ONLY" in (keys / "data-keys.toml").read_text()


def test_refuses_a_non_empty_directory_without_force(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        init_keys(tmp_path, PARTIES[:1])


def test_force_overwrites_with_a_new_ca(tmp_path: Path) -> None:
    init_keys(tmp_path, PARTIES[:1])
    before = (tmp_path / "ca.crt").read_bytes()
    init_keys(tmp_path, PARTIES[:1], force=True)
    assert (tmp_path / "ca.crt").read_bytes() != before


@pytest.mark.parametrize("party_id", ["../evil", "Court", "", UNKNOWN_PARTY], ids=repr)
def test_refuses_a_party_id_that_cannot_be_a_file_name_or_cn(
    tmp_path: Path, party_id: str
) -> None:
    party = Party(id=party_id, name="x", name_zh="x", kind="department", roles=("department",),
                  consent_issuer=False)
    with pytest.raises(ConfigurationError):
        init_keys(tmp_path / "keys", [party])
    assert not (tmp_path / "evil.crt").exists()


# -- gRPC (BoringSSL) accepts these files and refuses the untrusted client ---------------


@pytest.fixture(scope="module")
def grpc_port(keys: Path) -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    credentials = grpc.ssl_server_credentials(
        [((keys / "gateway.key").read_bytes(), (keys / "gateway.crt").read_bytes())],
        root_certificates=(keys / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("localhost:0", credentials)
    server.start()
    yield port
    server.stop(grace=None)


def _health_check(keys: Path, port: int, client: str, target: str = "localhost") -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(keys / "ca.crt").read_bytes(),
        private_key=(keys / f"{client}.key").read_bytes(),
        certificate_chain=(keys / f"{client}.crt").read_bytes(),
    )
    with grpc.secure_channel(f"{target}:{port}", credentials) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1"])
def test_grpc_handshake_accepts_a_registered_party(
    keys: Path, grpc_port: int, target: str
) -> None:
    _health_check(keys, grpc_port, "parties/court", target)


def test_grpc_handshake_refuses_a_client_of_the_untrusted_ca(keys: Path, grpc_port: int) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _health_check(keys, grpc_port, "untrusted/court")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_committed_development_set_covers_every_registered_party() -> None:
    committed = ROOT / "keys_example"
    assert (committed / MARKER_FILE).exists(), "run keys init to create keys_example/"
    ca = _cert(committed / "ca.crt")
    for party in PARTIES:
        cert = _cert(committed / "parties" / f"{party.id}.crt")
        assert _cn(cert) == party.id
        cert.verify_directly_issued_by(ca)


def test_force_never_leaves_a_secret_in_a_loosely_readable_file(tmp_path: Path) -> None:
    init_keys(tmp_path, PARTIES[:1])
    loose = tmp_path / "data-keys.toml"
    loose.chmod(0o644)  # as a copy or a checkout leaves it
    before = loose.stat().st_ino
    init_keys(tmp_path, PARTIES[:1], force=True)
    # A new file made with its final mode took the old one's place.
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert loose.stat().st_ino != before
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_production_key_set_with_loose_secrets_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    init_keys(keys, PARTIES[:1])
    assert check_key_files(keys) is True  # marked DEVELOPMENT ONLY: let through, warned
    (keys / MARKER_FILE).unlink()  # what a production set looks like
    assert check_key_files(keys) is False
    for name in ("data-keys.toml", "gateway.key", "gateway.log.key"):
        (keys / name).chmod(0o640)
        with pytest.raises(ConfigurationError, match=name):
            check_key_files(keys)
        (keys / name).chmod(0o600)
    assert check_key_files(keys) is False


def test_serving_on_development_keys_is_loudly_logged(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="credgate"):
        gw = Gateway.open(Config(data_dir=tmp_path / "data", keys_dir=KEYS))
    gw.close()
    assert any("DEVELOPMENT ONLY" in r.getMessage() for r in caplog.records)
