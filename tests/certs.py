"""Client certificates made at test time, signed by the development CA, for identity tests.

Each names its subject and subjectAltName exactly as a test asks, so the tests can try
the ambiguous shapes a CA might sign (two CNs, no CN, a party URI that disagrees).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.client import PartyCredentials
from tests.support import KEYS

_CA_KEY = serialization.load_pem_private_key((KEYS / "ca.key").read_bytes(), None)
_CA_CERT = x509.load_pem_x509_certificate((KEYS / "ca.crt").read_bytes())
_LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def client_cert(rdns: Sequence[Sequence[tuple[x509.ObjectIdentifier, str]]],
                uris: Sequence[str] = (), dns: Sequence[str] = ()) -> x509.Certificate:
    """A clientAuth leaf with these subject RDNs and SANs, signed by the development CA."""
    subject = x509.Name([x509.RelativeDistinguishedName(
        [x509.NameAttribute(oid, value) for oid, value in rdn]) for rdn in rdns])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_CA_CERT.subject)
        .public_key(_LEAF_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    alt: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    alt += [x509.DNSName(d) for d in dns]
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    assert isinstance(_CA_KEY, ec.EllipticCurvePrivateKey)
    return builder.sign(_CA_KEY, hashes.SHA256())


def cns(*names: str) -> list[list[tuple[x509.ObjectIdentifier, str]]]:
    """Subject RDNs: an organisation, then one RDN per common name."""
    return [[(NameOID.ORGANIZATION_NAME, "credgate tests")],
            *[[(NameOID.COMMON_NAME, name)] for name in names]]


def auth_context(cert: x509.Certificate) -> dict[str, list[bytes]]:
    """The auth context gRPC gives a servicer for a TLS peer with this certificate."""
    return {"transport_security_type": [b"ssl"],
            "x509_pem_cert": [cert.public_bytes(serialization.Encoding.PEM)]}


def credentials(tmp: Path, cert: x509.Certificate, *, as_party: str = "court",
                stem: str = "client") -> PartyCredentials:
    """Client credentials using this certificate (and `as_party`'s signing key)."""
    crt, key = tmp / f"{stem}.crt", tmp / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(_LEAF_KEY.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return PartyCredentials(party=as_party, ca=KEYS / "ca.crt", cert=crt, key=key,
                            signing_key=KEYS / "parties" / f"{as_party}.sign.key")
