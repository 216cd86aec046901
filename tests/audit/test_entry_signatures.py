"""Entries keep the caller's request signature; the self-check and `audit verify` check it.

A forged entry that names a party must carry that party's signature: written through
the log (as a thief of the log key could), it still fails both checks, which name its
seq. `audit verify` also tells a rolled-back log apart from a cut-short export.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.api import pb
from gateway.audit.export import export_range
from gateway.audit.signatures import ACTION_METHODS, verify_entry_signatures
from gateway.audit.tree import TamperDetected
from gateway.cli import main
from gateway.crypto.signatures import load_signing_key, load_verify_key, sign
from gateway.identify.request_signing import RequestSignature, request_digest, signed_message
from tests.audit.shared_support import make_backend, open_log
from tests.audit.tamper import make_entry
from tests.support import KEYS

PARTIES = KEYS / "parties"
METHOD = "/credgate.v1.QueryService/QuerySubject"


def _signed(party: str, n: int, *, signer: str | None = None) -> str:
    key = load_signing_key(PARTIES / f"{signer or party}.sign.key")
    time = "2026-11-28T09:00:00Z"
    digest = request_digest(b"salt%d" % n, b"request")
    return RequestSignature(method=METHOD, time=time, digest=digest,
                            signature=sign(key, signed_message(METHOD, party, time, digest))
                            ).audit_text()


def _keys() -> dict:
    return {p.name[:-len(".sign.pub")]: load_verify_key(p) for p in PARTIES.glob("*.sign.pub")}


def _entry(n: int, *, signer: str | None = None):  # type: ignore[no-untyped-def]
    return make_entry(n, requester="org_department", action="query.subject",
                      request_signature=_signed("org_department", n, signer=signer))


def test_the_gateways_own_entries_verify_under_the_action_table(live) -> None:  # type: ignore[no-untyped-def]
    assert ACTION_METHODS["query.subject"] == (METHOD,)
    assert ACTION_METHODS["records.submit"] == ("/credgate.v1.RecordService/SubmitRecords",)
    # The gateway's own entries verify: what the callers signed is what the table says.
    from tests.services.records_data import debtor_record

    live.client("court").submit_records([debtor_record("SIG-1")])
    live.client("regulator").audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=10)
    entries = live.gw.audit.read(start=1, limit=100)
    assert verify_entry_signatures(entries, _keys()) == (len(entries), 0)


def test_a_forged_signature_is_named_by_the_self_check_and_by_verify(tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    with open_log(backend, tmp_path / "a") as (log, evidence):
        log.append_many([_entry(1), _entry(2), _entry(3, signer="court"), _entry(4)])
        evidence.checkpointer.checkpoint_now()
        out = tmp_path / "export.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, out)
    log_pub = str(KEYS / "gateway.log.pub")
    assert main(["audit", "verify", str(out), "--log-key", log_pub]) == 0
    assert main(["audit", "verify", str(out), "--log-key", log_pub,
                 "--party-keys", str(PARTIES)]) == 1
    with pytest.raises(TamperDetected) as info:
        from gateway.audit.seen import SeenCheckpoint
        from gateway.audit.shared import SharedAuditLog
        from gateway.audit.shared_evidence import SharedEvidence
        from tests.audit.shared_support import ORIGIN
        from tests.audit.tamper import LOG_KEY

        seen = SeenCheckpoint(tmp_path / "b" / "seen", LOG_KEY.verify_key, ORIGIN)
        shared = SharedAuditLog(backend, signing_key=LOG_KEY, origin=ORIGIN, seen=seen)
        try:
            SharedEvidence.open(shared, LOG_KEY, interval=None, party_keys=_keys())
        finally:
            shared.close()
    assert info.value.seq == 3 and info.value.reason == "request_signature_invalid"


def test_verify_reports_the_seq_and_the_count(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    with open_log(backend, tmp_path / "a") as (log, evidence):
        log.append_many([_entry(1), _entry(2, signer="court")])
        evidence.checkpointer.checkpoint_now()
        out = tmp_path / "export.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, out)
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--log-key", str(KEYS / "gateway.log.pub"),
                 "--party-keys", str(PARTIES)]) == 1
    text = capsys.readouterr().out
    assert "entry 2" in text and "seq 2" in text


def test_verify_tells_rolled_back_from_cut_short(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    with open_log(backend, tmp_path / "a") as (log, evidence):
        log.append_many(make_entry(i) for i in range(5))
        evidence.checkpointer.checkpoint_now()
        old = tmp_path / "old.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, old)
        log.append_many(make_entry(i) for i in range(5, 9))
        newer = evidence.checkpointer.checkpoint_now()
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(newer.note)
    log_pub = str(KEYS / "gateway.log.pub")
    capsys.readouterr()
    # The gateway hands over a log whose newest checkpoint is older than one we kept.
    assert main(["audit", "verify", str(old), "--log-key", log_pub,
                 "--previous", str(kept)]) == 1
    text = capsys.readouterr().out
    assert "ROLLED BACK" in text and "seq 6" in text
    # An export that ends before the checkpoint saved with it was cut short.
    lines = old.read_bytes().splitlines(keepends=True)
    old.write_bytes(b"".join(lines[:-2]))
    assert main(["audit", "verify", str(old), "--log-key", log_pub]) == 1
    assert "CUT SHORT" in capsys.readouterr().out




def test_a_replaced_key_still_verifies_what_it_signed(tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    with open_log(backend, tmp_path / "a") as (log, evidence):
        # Signed with a key org_department has since replaced (here: court's key pair).
        log.append_many([_entry(1, signer="court"), _entry(2)])
        evidence.checkpointer.checkpoint_now()
        out = tmp_path / "export.jsonl"
        export_range(log, evidence.tree, evidence.checkpointer, out)
    keys = tmp_path / "parties"
    keys.mkdir()
    (keys / "org_department.sign.pub").write_bytes(
        (PARTIES / "org_department.sign.pub").read_bytes())
    argv = ["audit", "verify", str(out), "--log-key", str(KEYS / "gateway.log.pub"),
            "--party-keys", str(keys)]
    assert main(argv) == 1
    (keys / "org_department.sign.retired-1.pub").write_bytes(
        (PARTIES / "court.sign.pub").read_bytes())
    assert main(argv) == 0
