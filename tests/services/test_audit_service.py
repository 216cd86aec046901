"""The regulator's AuditService over mTLS: search, proofs, export, and who may use it."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.app import Gateway
from gateway.audit.checkpoint import verify_checkpoint
from gateway.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.audit.tree import TamperDetected
from gateway.audit.verifier import verify_export
from gateway.cli import main
from gateway.crypto.signatures import load_verify_key
from tests.audit.tamper import attacker, change_entry
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, OTHER_ADULT

LOG_PUB = load_verify_key(KEYS / "gateway.log.pub")


def activity(live: LiveGateway) -> int:
    """Some allowed and refused calls; returns the seq of one allowed query."""
    live.client("court").submit_records([debtor_record("AS-1"),
                                         debtor_record("AS-2", subject=OTHER_ADULT)])
    seq = live.client("org_department").query_subject(ADULT, "cadre_selection").audit_seq
    live.client("org_department").query_subject(OTHER_ADULT, "cadre_selection")
    with pytest.raises(grpc.RpcError):
        live.client("credit_website").query_subject(ADULT, "cadre_selection")
    return seq


@pytest.mark.parametrize("party", ["court", "credit_website", "security_officer",
                                   "citizen_portal", "credit_agency"])
def test_only_regulators_may_use_the_audit_service(live: LiveGateway, party: str) -> None:
    stub = live.client(party).audit
    for call, request in ((stub.ListAuditEntries, pb.ListAuditEntriesRequest()),
                          (stub.GetCheckpoint, pb.GetCheckpointRequest(fresh=True)),
                          (stub.GetConsistencyProof, pb.ConsistencyProofRequest(old_size=1))):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:
        list(stub.ExportAudit(pb.ExportAuditRequest(), timeout=10))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_search_by_requester_decision_and_subject(live: LiveGateway) -> None:
    activity(live)
    audit = live.client("regulator").audit
    denied = audit.ListAuditEntries(pb.ListAuditEntriesRequest(decision="deny"), timeout=10)
    assert [(e.requester, e.reason) for e in denied.entries] == [
        ("credit_website", "policy_denied")]
    about = audit.ListAuditEntries(
        pb.ListAuditEntriesRequest(subject_id=ADULT, action="query.subject"), timeout=10)
    assert [e.requester for e in about.entries] == ["org_department", "credit_website"]
    assert all(ADULT not in e.canonical.decode() for e in about.entries)
    page = audit.ListAuditEntries(pb.ListAuditEntriesRequest(page_size=2), timeout=10)
    rest = audit.ListAuditEntries(
        pb.ListAuditEntriesRequest(page_size=100, page_token=page.next_page_token), timeout=10)
    seqs = [e.seq for e in page.entries] + [e.seq for e in rest.entries]
    assert seqs == list(range(1, len(seqs) + 1))
    # The regulator's own searches are audited too.
    mine = audit.ListAuditEntries(pb.ListAuditEntriesRequest(requester="regulator"), timeout=10)
    assert {e.action for e in mine.entries} == {"audit.list"}


def test_inclusion_and_consistency_proofs_verify(live: LiveGateway) -> None:
    seq = activity(live)
    audit = live.client("regulator").audit
    first = audit.GetCheckpoint(pb.GetCheckpointRequest(fresh=True), timeout=10)
    old = verify_checkpoint(first.text, LOG_PUB)
    proof = audit.GetInclusionProof(pb.InclusionProofRequest(seq=seq), timeout=10)
    signed = verify_checkpoint(proof.checkpoint.text, LOG_PUB)
    listed = audit.ListAuditEntries(pb.ListAuditEntriesRequest(), timeout=10)
    canonical = next(e.canonical for e in listed.entries if e.seq == seq)
    assert leaf_hash(canonical) == proof.leaf_hash
    verify_inclusion(leaf_hash(canonical), seq - 1, proof.tree_size, list(proof.hashes),
                     signed.root)
    consistency = audit.GetConsistencyProof(
        pb.ConsistencyProofRequest(old_size=old.size, new_size=signed.size), timeout=10)
    verify_consistency(old.size, signed.size, old.root, signed.root, list(consistency.hashes))


@pytest.mark.parametrize("call", ["inclusion", "consistency", "export"])
def test_a_refused_regulator_request_leaves_a_deny_and_no_allow(live: LiveGateway,
                                                                 call: str) -> None:
    activity(live)
    audit = live.client("regulator").audit
    size = live.gw.audit.size()
    with pytest.raises(grpc.RpcError) as info:
        if call == "inclusion":
            audit.GetInclusionProof(pb.InclusionProofRequest(seq=10**6), timeout=10)
        elif call == "consistency":
            audit.GetConsistencyProof(pb.ConsistencyProofRequest(old_size=5, new_size=2),
                                      timeout=10)
        else:
            list(audit.ExportAudit(pb.ExportAuditRequest(start_seq=10**6), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [(_, entry)] = live.gw.audit.read(start=size + 1, limit=10)
    assert entry.decision == "deny"


def test_export_verifies_offline_with_the_cli(live: LiveGateway, tmp_path: Path) -> None:
    activity(live)
    out = tmp_path / "audit.jsonl"
    # The CLI signs with the real time and this gateway runs on the test clock, so the
    # export goes through the client library; the offline verifier through the CLI.
    chunks = list(live.client("regulator").audit.ExportAudit(pb.ExportAuditRequest(),
                                                             timeout=30))
    out.write_bytes(b"".join(c.jsonl for c in chunks))
    checkpoint = next(c.checkpoint for c in chunks if c.checkpoint)
    (tmp_path / "audit.jsonl.checkpoint").write_text(checkpoint, encoding="utf-8")
    report = verify_export(out, checkpoint, LOG_PUB)
    assert report.ok and report.entries >= 5
    assert main(["audit", "verify", str(out), "--log-key", str(KEYS / "gateway.log.pub")]) == 0
    with out.open("ab") as fh:  # one forged entry appended: no signed root covers it
        fh.write(out.read_bytes().splitlines(keepends=True)[-1])
    assert main(["audit", "verify", str(out), "--log-key", str(KEYS / "gateway.log.pub")]) != 0


def test_gateway_refuses_to_start_on_a_tampered_log(live_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(subdir="tampered")
    activity(live)
    live.client("regulator").audit.GetCheckpoint(pb.GetCheckpointRequest(fresh=True),
                                                 timeout=10)
    config = live.gw.config
    live.server.stop(grace=0.5)
    live.gw.close()
    with attacker(config.audit_db) as conn:
        change_entry(conn, 2)
    with pytest.raises(TamperDetected) as info:
        Gateway.open(config)
    assert info.value.seq == 2
