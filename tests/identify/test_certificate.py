"""identify(): only a TLS peer whose certificate names one registered party is a caller."""

from __future__ import annotations

import pytest
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalogue.registry import Catalogue
from gateway.errors import Unauthenticated
from gateway.identify.certificate import identify
from tests.certs import auth_context, client_cert, cns
from tests.support import KEYS

URI = "urn:credgate:party:"


def _refused(context: dict, catalogue: Catalogue) -> str:
    with pytest.raises(Unauthenticated) as info:
        identify(context, catalogue)
    return info.value.reason


def test_registered_party_is_identified(catalogue: Catalogue) -> None:
    context = {"transport_security_type": [b"ssl"],
               "x509_pem_cert": [(KEYS / "parties" / "court.crt").read_bytes()]}
    party = identify(context, catalogue)
    assert party.id == "court" and "department" in party.roles


@pytest.mark.parametrize(("uris", "dns"), [([], []), ([f"{URI}court"], []),
                                           ([], ["court.example"]),
                                           ([f"{URI}court", "https://court.example"], [])])
def test_one_cn_and_an_agreeing_or_absent_party_uri_is_identified(
        catalogue: Catalogue, uris: list[str], dns: list[str]) -> None:
    assert identify(auth_context(client_cert(cns("court"), uris, dns)), catalogue).id == "court"


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ({}, "no_tls"),
        ({"transport_security_type": [b"insecure"],
          "x509_pem_cert": [(KEYS / "parties" / "court.crt").read_bytes()]}, "no_tls"),
        ({"transport_security_type": [b"ssl"]}, "bad_certificate"),
        # gRPC's summary of the name is not the identity: the certificate itself is.
        ({"transport_security_type": [b"ssl"], "x509_common_name": [b"court"]},
         "bad_certificate"),
        ({"transport_security_type": [b"ssl"], "x509_pem_cert": [b"not a certificate"]},
         "bad_certificate"),
        ({"transport_security_type": [b"ssl"],
          "x509_pem_cert": [(KEYS / "parties" / "court.crt").read_bytes()] * 2},
         "bad_certificate"),
    ],
)
def test_everything_else_is_unauthenticated(catalogue: Catalogue, context: dict,
                                            reason: str) -> None:
    assert _refused(context, catalogue) == reason


@pytest.mark.parametrize("rdns", [
    cns(),
    cns("court", "regulator"),
    cns("regulator", "court"),
    cns("court", "court"),
    # Two CNs in one multi-valued RDN count as two.
    [[(NameOID.COMMON_NAME, "court"), (NameOID.ORGANIZATION_NAME, "x")],
     [(NameOID.COMMON_NAME, "court")]],
    [[(NameOID.COMMON_NAME, "court"), (NameOID.COMMON_NAME, "regulator")]],
])
def test_a_subject_without_exactly_one_cn_is_refused(catalogue: Catalogue,
                                                     rdns: list) -> None:
    for uris in ([], [f"{URI}court"]):
        assert _refused(auth_context(client_cert(rdns, uris)), catalogue) == "bad_certificate"


@pytest.mark.parametrize("uris", [
    [f"{URI}regulator"],
    [f"{URI}court", f"{URI}court"],
    [f"{URI}court", f"{URI}regulator"],
    ["URN:CREDGATE:PARTY:court"],
    [f"{URI}Court"],
    [f"{URI}court/"],
    [f"{URI}court?x=1"],
    [f"{URI}"],
])
def test_a_party_uri_that_is_not_exactly_the_cn_is_refused(catalogue: Catalogue,
                                                           uris: list[str]) -> None:
    cert = client_cert(cns("court"), uris)
    assert _refused(auth_context(cert), catalogue) == "bad_certificate"


_PARTIES = st.sampled_from(["court", "regulator", "credit_agency", "security_officer"])


@settings(max_examples=40, deadline=None)
@given(names=st.lists(_PARTIES, min_size=0, max_size=3),
       uris=st.lists(_PARTIES, min_size=0, max_size=3))
def test_generated_subjects_identify_only_one_unambiguous_party(
        catalogue: Catalogue, names: list[str], uris: list[str]) -> None:
    """Any mix of CNs and party URIs: accepted only for one CN and agreeing URIs (<= 1)."""
    context = auth_context(client_cert(cns(*names), [URI + u for u in uris]))
    unambiguous = len(names) == 1 and (uris == [] or uris == names)
    if unambiguous:
        assert identify(context, catalogue).id == names[0]
    else:
        assert _refused(context, catalogue) == "bad_certificate"


def test_a_certificate_answers_the_same_on_every_call_and_refusals_stay_refusals(
        catalogue: Catalogue) -> None:
    # identify() keeps each certificate's party id (issue 12): repeats must not differ
    # from the first answer, and a refused certificate is refused every time.
    good = auth_context(client_cert(cns("court"), [f"{URI}court"], []))
    bad = auth_context(client_cert(cns("court"), [f"{URI}bank"], []))
    for _ in range(3):
        assert identify(good, catalogue).id == "court"
        assert _refused(bad, catalogue) == "bad_certificate"
    assert _refused({"transport_security_type": [b"insecure"],
                     "x509_pem_cert": good["x509_pem_cert"]}, catalogue) == "no_tls"
