"""Consent end to end: every way a consent can fail to cover a query is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest

from gateway.clock import FixedClock
from gateway.consent.artefacts import new_terms, sign_terms
from gateway.crypto.signatures import load_signing_key
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS, OTHER_ADULT


@pytest.fixture
def loaded(live: LiveGateway) -> LiveGateway:
    live.client("court").submit_records([debtor_record("K-1"),
                                         debtor_record("K-2", subject=OTHER_ADULT)])
    live.client("public_security").submit_records([identity_record()])
    return live


def issue(live: LiveGateway, clock: FixedClock, **overrides: object) -> str:
    now = clock.now()
    values: dict[str, object] = {
        "subject_id": ADULT, "grantee": "credit_agency", "purpose": "authorised_query",
        "categories": ["dishonest_debtor"], "not_before": now - timedelta(minutes=1),
        "not_after": now + timedelta(days=30), "max_uses": 3,
    }
    values.update(overrides)
    return live.client("citizen_portal").issue_consent(**values)  # type: ignore[arg-type]


def refused(call: Callable[[], object], reason_text: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    assert reason_text in info.value.details()
    assert ADULT not in info.value.details()


def test_valid_consent_releases_only_consented_categories(loaded: LiveGateway,
                                                          clock: FixedClock) -> None:
    consent = issue(loaded, clock)
    reply = loaded.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                         consent_id=consent)
    assert {r.category for r in reply.records} == {"dishonest_debtor"}
    assert set(reply.released_categories) == {"dishonest_debtor"}
    assert reply.consent_id == consent


def test_missing_consent_refused(loaded: LiveGateway) -> None:
    refused(lambda: loaded.client("credit_agency").query_subject(ADULT, "authorised_query"),
            "requires the person's consent")


def test_unknown_consent_refused(loaded: LiveGateway) -> None:
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id="consent-does-not-exist"), "not registered")


def test_consent_of_another_person_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, subject_id=OTHER_ADULT)
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "another person")


def test_consent_for_another_grantee_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, grantee="org_department")
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "another grantee")


def test_consent_for_another_purpose_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, purpose="self_query", grantee="credit_agency")
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "another purpose")


def test_consent_for_another_category_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, categories=["identity"])
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", categories=["dishonest_debtor"], consent_id=consent),
        "does not cover")


def test_consent_not_yet_valid_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    now = clock.now()
    consent = issue(loaded, clock, not_before=now + timedelta(days=1),
                    not_after=now + timedelta(days=5))
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "not yet valid")


def test_expired_consent_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, not_after=clock.now() + timedelta(hours=1))
    agency = loaded.client("credit_agency")
    agency.query_subject(ADULT, "authorised_query", consent_id=consent)
    clock.advance(timedelta(hours=1))
    refused(lambda: agency.query_subject(ADULT, "authorised_query", consent_id=consent),
            "expired")


def test_revoked_consent_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock)
    agency = loaded.client("credit_agency")
    agency.query_subject(ADULT, "authorised_query", consent_id=consent)
    reply = loaded.client("citizen_portal").revoke_consent(consent, "changed my mind")
    assert reply.revoked_at
    refused(lambda: agency.query_subject(ADULT, "authorised_query", consent_id=consent),
            "revoked")


def test_used_up_consent_refused(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock, max_uses=2)
    agency = loaded.client("credit_agency")
    for _ in range(2):
        agency.query_subject(ADULT, "authorised_query", consent_id=consent)
    refused(lambda: agency.query_subject(ADULT, "authorised_query", consent_id=consent),
            "used up")


def test_artefact_signed_with_another_key_refused_at_issue(loaded: LiveGateway,
                                                           clock: FixedClock) -> None:
    now = clock.now()
    terms = new_terms(subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
                      categories=["dishonest_debtor"], not_before=now,
                      not_after=now + timedelta(days=1), max_uses=1, issuer="citizen_portal",
                      issued_at=now)
    wrong_key = load_signing_key(KEYS / "parties" / "credit_agency.sign.key")
    artefact, signature = sign_terms(terms, wrong_key)
    refused(lambda: loaded.client("citizen_portal").register_consent(artefact, signature),
            "signature")


def test_tampered_stored_consent_refused_at_use(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock)
    with sqlite3.connect(loaded.gw.config.records_db) as db:
        db.execute("UPDATE consents SET signature = zeroblob(64) WHERE consent_id = ?",
                   (consent,))
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "signature")


def test_a_row_edited_to_allow_more_uses_stops_working(loaded: LiveGateway,
                                                        clock: FixedClock) -> None:
    consent = issue(loaded, clock)  # signed for a fixed number of uses
    with sqlite3.connect(loaded.gw.config.records_db) as db:
        db.execute("UPDATE consents SET max_uses = max_uses + 100 WHERE consent_id = ?",
                   (consent,))
    refused(lambda: loaded.client("credit_agency").query_subject(
        ADULT, "authorised_query", consent_id=consent), "signature")


def test_only_the_citizen_portal_issues_consent(loaded: LiveGateway, clock: FixedClock) -> None:
    now = clock.now()
    terms = new_terms(subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
                      categories=["dishonest_debtor"], not_before=now,
                      not_after=now + timedelta(days=1), max_uses=9, issuer="credit_agency",
                      issued_at=now)
    artefact, signature = sign_terms(
        terms, load_signing_key(KEYS / "parties" / "credit_agency.sign.key"))
    refused(lambda: loaded.client("credit_agency").register_consent(artefact, signature),
            "consent issuer")


def test_only_the_issuer_revokes(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock)
    refused(lambda: loaded.client("credit_agency").revoke_consent(consent), "issued by")
    reply = loaded.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                         consent_id=consent)
    assert reply.records


def test_consent_steps_are_audited(loaded: LiveGateway, clock: FixedClock) -> None:
    consent = issue(loaded, clock)
    loaded.client("credit_agency").query_subject(ADULT, "authorised_query", consent_id=consent)
    with pytest.raises(grpc.RpcError):
        loaded.client("credit_agency").query_subject(ADULT, "authorised_query")
    entries = [e for _, e in loaded.gw.audit.read(start=1, limit=100)]
    issued = [e for e in entries if e.action == "consent.issue"]
    assert issued and issued[0].consent_id == consent and issued[0].decision == "allow"
    queries = [e for e in entries if e.action == "query.subject"]
    assert [(q.decision, q.consent_id) for q in queries] == [("allow", consent), ("deny", "")]
    assert queries[1].reason == "consent_missing"


def test_a_taken_consent_id_is_refused_with_one_deny_entry(loaded: LiveGateway,
                                                          clock: FixedClock) -> None:
    first = issue(loaded, clock, consent_id="consent:2026:0042")
    before = loaded.gw.audit.size()
    with pytest.raises(grpc.RpcError) as info:
        issue(loaded, clock, consent_id=first, max_uses=9)  # other terms, same id
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    entries = [e for _, e in loaded.gw.audit.read(start=before + 1, limit=10)]
    assert [(e.action, e.decision) for e in entries] == [("consent.issue", "deny")]
    issue(loaded, clock, consent_id=first)  # the very same artefact again: no error
