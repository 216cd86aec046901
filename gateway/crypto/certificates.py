"""The names an X.509 certificate carries: its subject's common names and its URI names.

The identify step decides who a caller is from these (gateway.identify.certificate); the
parsing of the certificate stays here, beside the rest of the cryptography.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

__all__ = ["CertificateNames", "TrustAnchor", "UnreadableCertificate", "certificate_names",
           "issuing_anchor", "load_trust_anchors"]


class UnreadableCertificate(ValueError):
    """A part of a certificate ("certificate", "subject" or "extensions") does not parse."""

    def __init__(self, part: str) -> None:
        super().__init__(f"the {part} cannot be parsed")
        self.part = part


@dataclass(frozen=True, slots=True)
class CertificateNames:
    """The subject's common names (all RDNs) and the subjectAltName URIs (None: no SAN)."""

    common_names: tuple[object, ...]
    uris: tuple[str, ...] | None


def certificate_names(pem: bytes) -> CertificateNames:
    """The names of a PEM certificate; raises UnreadableCertificate naming the bad part."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise UnreadableCertificate("certificate") from None
    try:
        common_names = tuple(a.value for a in
                             cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    except ValueError:
        raise UnreadableCertificate("subject") from None
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return CertificateNames(common_names, None)
    except ValueError:
        raise UnreadableCertificate("extensions") from None
    return CertificateNames(common_names,
                            tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)))


@dataclass(frozen=True)
class TrustAnchor:
    """A CA certificate that issues a trust domain's certificates (gateway.identify.trust)."""

    subject: str
    der: bytes
    pem: bytes
    cert: x509.Certificate = field(repr=False, compare=False)


def load_trust_anchors(data: bytes) -> tuple[TrustAnchor, ...]:
    """The CA certificates of a PEM bundle; raises UnreadableCertificate ("certificate"
    when it does not parse, "anchor" when one is not a CA certificate)."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UnreadableCertificate("certificate") from None
    anchors = []
    for cert in certs:
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except (x509.ExtensionNotFound, ValueError):
            basic = None
        if basic is None or not basic.ca:
            raise UnreadableCertificate("anchor")
        anchors.append(TrustAnchor(subject=cert.subject.rfc4514_string(),
                                   der=cert.public_bytes(serialization.Encoding.DER),
                                   pem=cert.public_bytes(serialization.Encoding.PEM),
                                   cert=cert))
    return tuple(anchors)


def issuing_anchor(pem: bytes, anchors: Sequence[TrustAnchor]) -> int | None:
    """The position of the anchor whose key directly signed a PEM certificate (None: no
    anchor did); raises UnreadableCertificate when the certificate does not parse."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise UnreadableCertificate("certificate") from None
    for position, anchor in enumerate(anchors):
        try:
            cert.verify_directly_issued_by(anchor.cert)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return position
    return None
