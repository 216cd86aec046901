"""The identify step: the caller is the party named by its mTLS client certificate.

Nothing in a request body can change who the caller is. The TLS layer has already
refused certificates that do not chain to the gateway's CA; here a certificate that
does chain but names no registered party is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.errors import Unauthenticated
from gateway.records.catalogue import Catalogue, Party

_CN_KEY = "x509_common_name"
_TRANSPORT_KEY = "transport_security_type"


def identify(auth_context: Mapping[str, Sequence[bytes]], catalogue: Catalogue) -> Party:
    """The registered party behind a peer's TLS auth context; raises Unauthenticated."""
    transport = auth_context.get(_TRANSPORT_KEY, ())
    if b"ssl" not in transport:
        raise Unauthenticated("a client certificate is required", reason="no_tls")
    names = auth_context.get(_CN_KEY, ())
    if len(names) != 1:
        raise Unauthenticated("the client certificate must carry exactly one common name",
                              reason="bad_certificate")
    try:
        party_id = names[0].decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthenticated("unreadable certificate name", reason="bad_certificate") from None
    party = catalogue.parties.get(party_id)
    if party is None:
        raise Unauthenticated("the certificate names no registered party",
                              reason="unknown_party")
    return party
