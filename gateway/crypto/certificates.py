"""The names an X.509 certificate carries: its subject's common names and its URI names.

The identify step decides who a caller is from these (gateway.identify.certificate); the
parsing of the certificate stays here, beside the rest of the cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["CertificateNames", "UnreadableCertificate", "certificate_names"]


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
