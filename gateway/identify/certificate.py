"""The identify step: the caller is the party named by its mTLS client certificate.

Nothing in a request body can change who the caller is. The TLS layer has already
refused certificates that do not chain to the gateway's CA; here the peer certificate
itself is parsed (not gRPC's summary of it, which takes the first of several common
names), and it must name one party without ambiguity:

1. the subject holds exactly one common name (CN), across all its RDNs;
2. at most one ``urn:credgate:party:<id>`` URI in the subjectAltName; when present it is
   the identity, and it must agree exactly with the CN;
3. the party is registered in the catalogue;
4. the certificate was issued in the party's own trust domain: a peer platform's by the
   CA of its trust bundle, every other party's by the gateway's own CA
   (gateway/identify/trust.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from gateway.catalogue.registry import Catalogue, Party
from gateway.crypto.certificates import CertificateNames, UnreadableCertificate, certificate_names
from gateway.crypto.key_files import PARTY_URI_PREFIX
from gateway.errors import Unauthenticated
from gateway.identify.trust import PLATFORM_ROLE, PeerTrust, check_issuer

_PEM_KEY = "x509_pem_cert"
_TRANSPORT_KEY = "transport_security_type"
_UNREADABLE = {
    "certificate": "the client certificate cannot be parsed",
    "subject": "the client certificate's subject cannot be parsed",
    "extensions": "the client certificate's extensions cannot be parsed",
}


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


def party_id_of(names: CertificateNames) -> str:
    """The one party id a certificate names; raises Unauthenticated when it is ambiguous."""
    if len(names.common_names) != 1:
        raise _bad("the client certificate must carry exactly one common name")
    common_name = names.common_names[0]
    if not isinstance(common_name, str) or not common_name:
        raise _bad("the client certificate's common name is not text")
    uris = [uri for uri in names.uris or () if uri.lower().startswith(PARTY_URI_PREFIX)]
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
    try:
        return party_id_of(certificate_names(pem))
    except UnreadableCertificate as exc:
        raise _bad(_UNREADABLE[exc.part]) from None


def identify(auth_context: Mapping[str, Sequence[bytes]], catalogue: Catalogue,
             trust: PeerTrust | None = None) -> Party:
    """The registered party behind a peer's TLS auth context, its certificate issued in
    the party's own trust domain; raises Unauthenticated."""
    pem = _peer_pem(auth_context)
    party = catalogue.parties.get(_party_id_of_pem(pem))
    if party is None:
        raise Unauthenticated("the certificate names no registered party",
                              reason="unknown_party")
    if trust is not None or PLATFORM_ROLE in party.roles:
        check_issuer(party, pem, trust)
    return party
