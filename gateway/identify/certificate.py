"""The identify step: the caller is the party named by its mTLS client certificate.

Nothing in a request body can change who the caller is. The TLS layer has already
refused certificates that do not chain to the gateway's CA; here the peer certificate
itself is parsed (not gRPC's summary of it, which takes the first of several common
names), and it must name one party without ambiguity:

1. the subject holds exactly one common name (CN), across all its RDNs;
2. at most one ``urn:credgate:party:<id>`` URI in the subjectAltName; when present it is
   the identity, and it must agree exactly with the CN;
3. the party is registered in the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.catalogue.registry import Catalogue, Party
from gateway.errors import Unauthenticated
from gateway.keys import PARTY_URI_PREFIX

_PEM_KEY = "x509_pem_cert"
_TRANSPORT_KEY = "transport_security_type"


def _bad(message: str) -> Unauthenticated:
    return Unauthenticated(message, reason="bad_certificate")


def _peer_pem(auth_context: Mapping[str, Sequence[bytes]]) -> bytes:
    transport = auth_context.get(_TRANSPORT_KEY, ())
    if b"ssl" not in transport:
        raise Unauthenticated("a client certificate is required", reason="no_tls")
    pems = auth_context.get(_PEM_KEY, ())
    if len(pems) != 1:
        raise _bad("the client certificate is missing")
    return bytes(pems[0])


def _load(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _bad("the client certificate cannot be parsed") from None


def peer_certificate(auth_context: Mapping[str, Sequence[bytes]]) -> x509.Certificate:
    """The peer's parsed certificate from a TLS auth context; raises Unauthenticated."""
    return _load(_peer_pem(auth_context))


def party_id_of(cert: x509.Certificate) -> str:
    """The one party id a certificate names; raises Unauthenticated when it is ambiguous."""
    try:
        common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        raise _bad("the client certificate's subject cannot be parsed") from None
    if len(common_names) != 1:
        raise _bad("the client certificate must carry exactly one common name")
    common_name = common_names[0].value
    if not isinstance(common_name, str) or not common_name:
        raise _bad("the client certificate's common name is not text")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name
    except ValueError:
        raise _bad("the client certificate's extensions cannot be parsed") from None
    uris = [uri for uri in sans.get_values_for_type(x509.UniformResourceIdentifier)
            if uri.lower().startswith(PARTY_URI_PREFIX)]
    if not uris:
        return common_name
    if len(uris) != 1:
        raise _bad("the client certificate must name at most one party URI")
    if uris[0] != PARTY_URI_PREFIX + common_name:
        raise _bad("the client certificate's party URI and common name disagree")
    return common_name


@lru_cache(maxsize=1024)
def _party_id_of_pem(pem: bytes) -> str:
    # A client sends the same certificate on every call of a connection and every
    # connection: parsing it (PEM, subject, extensions) cost about 200 k instructions
    # per call. The answer depends only on the bytes, so it is kept per certificate;
    # refusals raise and are never cached, so a bad certificate is parsed again each time.
    return party_id_of(_load(pem))


def identify(auth_context: Mapping[str, Sequence[bytes]], catalogue: Catalogue) -> Party:
    """The registered party behind a peer's TLS auth context; raises Unauthenticated."""
    party = catalogue.parties.get(_party_id_of_pem(_peer_pem(auth_context)))
    if party is None:
        raise Unauthenticated("the certificate names no registered party",
                              reason="unknown_party")
    return party
