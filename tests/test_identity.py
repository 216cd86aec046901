"""identify(): only a TLS peer whose certificate names a registered party is a caller."""

from __future__ import annotations

import pytest

from gateway.errors import Unauthenticated
from gateway.identity import identify
from gateway.records.catalogue import Catalogue


def test_registered_party_is_identified(catalogue: Catalogue) -> None:
    party = identify({"transport_security_type": [b"ssl"],
                      "x509_common_name": [b"court"]}, catalogue)
    assert party.id == "court" and "department" in party.roles


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ({}, "no_tls"),
        ({"transport_security_type": [b"insecure"], "x509_common_name": [b"court"]}, "no_tls"),
        ({"transport_security_type": [b"ssl"]}, "bad_certificate"),
        ({"transport_security_type": [b"ssl"], "x509_common_name": [b"court", b"regulator"]},
         "bad_certificate"),
        ({"transport_security_type": [b"ssl"], "x509_common_name": [b"\xff"]},
         "bad_certificate"),
        ({"transport_security_type": [b"ssl"], "x509_common_name": [b"ghost"]},
         "unknown_party"),
    ],
)
def test_everything_else_is_unauthenticated(catalogue: Catalogue, context: dict,
                                            reason: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        identify(context, catalogue)
    assert info.value.reason == reason
