"""The gateway's TLS files checked before serving: readable, a key that matches its
certificate, a certificate the CA issued. gRPC would otherwise start and fail every
handshake, or stop with a message that names none of the files."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from gateway.errors import ConfigurationError


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} {path}: "
                                 f"{exc.strerror or type(exc).__name__}") from None


def check_server_tls(cert_path: Path, key_path: Path, ca_path: Path) -> None:
    """Raise ConfigurationError naming the file unless the pair and its CA agree."""
    try:
        cert = x509.load_pem_x509_certificate(_read(cert_path, "server certificate"))
    except ValueError:
        raise ConfigurationError(f"{cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(_read(key_path, "server key"), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(f"{key_path} is not an unencrypted PEM private key") from None
    try:
        ca = x509.load_pem_x509_certificate(_read(ca_path, "CA certificate"))
    except ValueError:
        raise ConfigurationError(f"{ca_path} is not a PEM certificate") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != cert.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise ConfigurationError(f"{key_path} is not the key of {cert_path}: they come from "
                                 "different key sets")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ConfigurationError(f"{cert_path} was not issued by the CA in {ca_path}: "
                                 "clients would refuse it") from None
