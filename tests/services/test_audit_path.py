"""The audit step: every decision is durable before the response; no audit, no data."""

from __future__ import annotations

import sqlite3

import grpc
import pytest

from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT
from tests.threads import run_together, times


def test_query_is_audited_with_everything_a_regulator_needs(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("Q-1")])
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    seq, entry = live.gw.audit.read(start=reply.audit_seq, limit=1)[0]
    assert seq == reply.audit_seq
    assert entry.requester == "org_department" and entry.purpose == "cadre_selection"
    assert entry.decision == "allow" and entry.action == "query.subject"
    assert entry.subject_index and ADULT not in entry.subject_index
    assert "dishonest_debtor" in entry.categories
    assert "dishonest_debtor.case_number" in entry.fields_released
    assert entry.policy_version == live.gw.policy.version
    # The deciding rules are named by where they are written in that policy version.
    references = entry.policy_rule.split("; ")
    rules = [live.gw.policy.rule_by_reference(ref) for ref in references]
    assert references and all(r is not None and str(r).startswith(ref + " p, ")
                              for r, ref in zip(rules, references, strict=True))
    assert any(r is not None and r.pur == "cadre_selection" and r.eft == "allow"
               for r in rules)
    assert len(entry.trace_id) == 32 and entry.request_id == reply.query_id
    assert ADULT not in entry.canonical_bytes().decode("utf-8")


def test_refused_query_is_audited(live: LiveGateway) -> None:
    with pytest.raises(grpc.RpcError):
        live.client("credit_website").query_subject(ADULT, "cadre_selection")
    [(_, entry)] = live.gw.audit.read(start=1, limit=10)
    assert entry.decision == "deny" and entry.requester == "credit_website"
    assert entry.reason == "policy_denied" and entry.subject_index


def test_audit_store_failure_means_no_data(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("F-1")])
    before = live.gw.audit.size()
    # Another process takes the audit database's write lock and keeps it.
    holder = sqlite3.connect(live.gw.config.audit_db, isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(grpc.RpcError) as info:
            live.client("org_department").query_subject(ADULT, "cadre_selection", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "audit" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            live.client("court").submit_records([debtor_record("F-2")], timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert live.gw.audit.size() == before
    # F-2 was not stored: submitting it now creates it.
    assert live.client("court").submit_records([debtor_record("F-2")]).results[0].created
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    assert reply.records


def test_audit_table_dropped_means_no_data(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("G-1")])
    with sqlite3.connect(live.gw.config.audit_db) as db:
        db.execute("DROP TABLE tlog_entries")
    with pytest.raises(grpc.RpcError) as info:
        live.client("org_department").query_subject(ADULT, "cadre_selection", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_concurrent_queries_each_get_their_own_durable_entry(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("H-1")])
    client = live.client("org_department")

    def worker() -> list[int]:
        return [client.query_subject(ADULT, "cadre_selection").audit_seq for _ in range(10)]

    seqs = [seq for mine in run_together(worker, times(8)) for seq in mine]
    assert len(set(seqs)) == 80
    assert live.gw.audit.size() == 81
