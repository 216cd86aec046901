"""The credit agency blacklist (违规经营黑名单): every call of a listed agency is refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.catalogue.registry import Catalogue
from gateway.clock import FixedClock
from gateway.crypto.fields import FieldCipher
from gateway.crypto.keyring import generate_keyring
from gateway.crypto.signatures import load_signing_key, load_verify_key
from gateway.errors import PermissionDenied
from gateway.identify.request_signing import sign_request_bytes, verify_audit_text
from gateway.records.blacklist import Blacklist
from gateway.records.sqlite_store import SqliteStore
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.lifecycle_support import audit_entries, refused
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, NOW

REASON = "超出授权范围查询个人信用信息"
QUERY = "/credgate.v1.QueryService/QuerySubject"


def consent_for(live: LiveGateway, clock: FixedClock, agency: str) -> str:
    now = clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee=agency, purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=30), max_uses=5)


def query(live: LiveGateway, agency: str, consent: str) -> object:
    return live.client(agency).query_subject(ADULT, "authorised_query", consent_id=consent)


def test_a_listed_agency_is_refused_on_every_call_until_lifted(live: LiveGateway,
                                                               clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("BL-1")])
    consent_a = consent_for(live, clock, "credit_agency")
    consent_b = consent_for(live, clock, "credit_agency_b")
    query(live, "credit_agency_b", consent_b)
    officer = live.client("security_officer")
    entry = officer.blacklist_agency("credit_agency_b", REASON)
    assert (entry.party, entry.listed_by, entry.reason) == ("credit_agency_b",
                                                            "security_officer", REASON)
    code = grpc.StatusCode
    agency_b = live.client("credit_agency_b")
    refused(lambda: query(live, "credit_agency_b", consent_b), code.PERMISSION_DENIED,
            "blacklist")
    refused(lambda: agency_b.list_objections(), code.PERMISSION_DENIED, "blacklist")
    refused(lambda: agency_b.subject_access_report(ADULT, consent_b), code.PERMISSION_DENIED,
            "blacklist")
    # Another agency is not affected.
    assert query(live, "credit_agency", consent_a)
    denied = [e for e in audit_entries(live, "query.subject")
              if e.decision == "deny" and e.requester == "credit_agency_b"]
    assert [e.reason for e in denied] == ["party_blacklisted"]
    assert [r.party for r in live.client("regulator").list_blacklist().entries] == [
        "credit_agency_b"]
    lifted = officer.lift_blacklist("credit_agency_b", "已完成整改")
    assert lifted.lifted_at and lifted.lift_reason == "已完成整改"
    assert query(live, "credit_agency_b", consent_b)
    history = officer.list_blacklist(include_lifted=True).entries
    assert [(e.party, bool(e.lifted_at)) for e in history] == [("credit_agency_b", True)]
    [added] = audit_entries(live, "blacklist.add")
    [removed] = audit_entries(live, "blacklist.lift")
    assert (added.decision, added.requester, added.reason) == (
        "allow", "security_officer", "blacklisted credit_agency_b")
    assert (removed.decision, removed.reason) == ("allow", "lifted credit_agency_b")
    assert REASON not in added.reason


def test_only_security_officers_keep_the_blacklist(live: LiveGateway) -> None:
    code = grpc.StatusCode
    for party in ("credit_agency", "regulator", "court", "citizen_portal"):
        refused(lambda p=party: live.client(p).blacklist_agency("credit_agency_b", REASON),
                code.PERMISSION_DENIED, "security officers")
    refused(lambda: live.client("credit_agency").list_blacklist(), code.PERMISSION_DENIED)
    officer = live.client("security_officer")
    refused(lambda: officer.blacklist_agency("court", REASON), code.FAILED_PRECONDITION,
            "only credit agencies")
    refused(lambda: officer.blacklist_agency("security_officer_b", REASON),
            code.FAILED_PRECONDITION)
    refused(lambda: officer.blacklist_agency("ghost_agency", REASON), code.NOT_FOUND)
    refused(lambda: officer.blacklist_agency("credit_agency", ""), code.INVALID_ARGUMENT)
    refused(lambda: officer.lift_blacklist("credit_agency", "x"), code.FAILED_PRECONDITION,
            "not blacklisted")
    officer.blacklist_agency("credit_agency", REASON)
    refused(lambda: officer.blacklist_agency("credit_agency", REASON), code.FAILED_PRECONDITION,
            "already")
    # Lifting needs an officer too; the listed agency cannot lift itself.
    refused(lambda: live.client("credit_agency").lift_blacklist("credit_agency", "sorry"),
            code.PERMISSION_DENIED, "blacklist")


def test_the_blacklist_survives_a_restart(tmp_path: Path, clock: FixedClock) -> None:
    first = start_live(tmp_path, clock)
    try:
        first.client("security_officer").blacklist_agency("credit_agency", REASON)
    finally:
        stop_live(first)
    second = start_live(tmp_path, clock)
    try:
        refused(lambda: second.client("credit_agency").list_objections(),
                grpc.StatusCode.PERMISSION_DENIED, "blacklist")
    finally:
        stop_live(second)


def test_instances_sharing_a_store_enforce_each_others_listings(
        tmp_path: Path, catalogue: Catalogue) -> None:
    here, there = SqliteStore(tmp_path / "r.db"), SqliteStore(tmp_path / "r.db")
    ticks = [0.0]
    try:
        cipher = FieldCipher(generate_keyring())
        mine = Blacklist(here, cipher=cipher, ttl=1.0, monotonic=lambda: ticks[0])
        theirs = Blacklist(there, cipher=cipher, ttl=1.0, monotonic=lambda: ticks[0])
        agency = catalogue.parties["credit_agency"]
        theirs.check(agency)  # read and cached: not listed
        here.stage_change(mine.listing(catalogue, "credit_agency", by="security_officer",
                                       reason=REASON, at="2026-11-28T09:00:00Z"),
                          request_id="req-1", at=NOW)
        mine.changed()
        with pytest.raises(PermissionDenied):
            mine.check(agency)  # at once where it was listed, staged for its entry
        here.apply_changes("req-1")
        mine.changed()
        with pytest.raises(PermissionDenied):
            mine.check(agency)
        theirs.check(agency)  # the other instance still has its cached read...
        ticks[0] = 1.0
        with pytest.raises(PermissionDenied) as info:
            theirs.check(agency)  # ...for at most ttl seconds
        assert info.value.reason == "party_blacklisted"
        theirs.check(catalogue.parties["credit_agency_b"])
    finally:
        here.close()
        there.close()


def test_the_officers_reasons_are_shown_but_stored_sealed(live: LiveGateway) -> None:
    officer = live.client("security_officer")
    reason, lifted = f"未经同意查询{ADULT}的信用信息", "整改完成，经复核解除"
    officer.blacklist_agency("credit_agency", reason)
    officer.lift_blacklist("credit_agency", lifted)
    [entry] = officer.list_blacklist(include_lifted=True).entries
    assert (entry.reason, entry.lift_reason) == (reason, lifted)  # officers read them
    live.gw.store.close()
    raw = b"".join(p.read_bytes() for p in live.gw.config.data_dir.rglob("*") if p.is_file())
    for text in (ADULT, "未经同意查询", "整改完成"):
        assert text.encode("utf-8") not in raw


def test_a_listed_agencys_refusal_keeps_its_signature_and_its_digest(
        tmp_path: Path, clock: FixedClock) -> None:
    """The deny entry of a listed agency's call carries the agency's verified signature on
    the bytes it sent (evidence of what it asked), and the digest in it is remembered:
    the same signed bytes sent again after the lifting, to an instance that learnt its
    replay memory from the log, are a replay (recent_request_digests reads the log)."""
    first = start_live(tmp_path, clock)
    try:
        first.client("court").submit_records([debtor_record("BL-SIG")])
        consent = consent_for(first, clock, "credit_agency_b")
        first.client("security_officer").blacklist_agency("credit_agency_b", REASON)
        body = pb.QuerySubjectRequest(subject_id=ADULT, purpose="authorised_query",
                                      consent_id=consent).SerializeToString()
        signed = sign_request_bytes(load_signing_key(KEYS / "parties" / "credit_agency_b.sign.key"),
                                    method=QUERY, party="credit_agency_b", body=body,
                                    now=clock.now())
        agency = first.client("credit_agency_b")
        with pytest.raises(grpc.RpcError) as info:
            agency.queries.QuerySubject(body, metadata=signed.headers, timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        [denied] = [e for e in audit_entries(first, "query.subject")
                    if e.decision == "deny" and e.requester == "credit_agency_b"]
        assert denied.reason == "party_blacklisted"
        verify_audit_text(load_verify_key(KEYS / "parties" / "credit_agency_b.sign.pub"),
                          QUERY, denied.request_signature, party="credit_agency_b")
        assert denied.request_signature.split(" ")[2] == signed.digest
        first.client("security_officer").lift_blacklist("credit_agency_b", "已完成整改")
    finally:
        stop_live(first)
    second = start_live(tmp_path, clock)  # its replay memory comes from the log
    try:
        with pytest.raises(grpc.RpcError) as info:
            second.client("credit_agency_b").queries.QuerySubject(
                body, metadata=signed.headers, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert audit_entries(second, "query.subject")[-1].reason == "request_replayed"
    finally:
        stop_live(second)
