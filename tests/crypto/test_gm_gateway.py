"""A gateway configured for the gm suite serves end to end, and refuses a mismatched set-up."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.cli import main
from gateway.config import Config
from gateway.crypto.keyring import DATA_KEYS_FILE, generate_keyring, keyring_toml
from gateway.crypto.signers import SM2, generate_signer, signer_file_text, verifier_file_text
from gateway.errors import ConfigurationError
from tests.live_gateway import LiveGateway
from tests.services.records_data import NAME, debtor_record, identity_record
from tests.support import ADULT, KEYS, POLICIES


@pytest.fixture(scope="module")
def gm_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The development key set with gm data keys and an SM2 answer key."""
    keys = tmp_path_factory.mktemp("gm") / "keys"
    shutil.copytree(KEYS, keys)
    (keys / DATA_KEYS_FILE).write_text(keyring_toml(generate_keyring("gm")), encoding="utf-8")
    signer = generate_signer(SM2)
    (keys / "gateway.answer.key").write_text(signer_file_text(signer), encoding="utf-8")
    (keys / "gateway.answer.pub").write_text(verifier_file_text(signer.public),
                                             encoding="utf-8")
    return keys


def test_a_gm_gateway_seals_with_sm4_finds_by_hmac_sm3_and_signs_with_sm2(
        live_factory: Callable[..., LiveGateway], gm_keys: Path) -> None:
    live = live_factory(keys_dir=gm_keys, suite="gm")
    assert live.gw.keyring.suite.name == "gm" and live.gw.answer_key is not None
    assert live.gw.answer_key.algorithm == SM2
    live.client("court", gm_keys).submit_records([debtor_record("G-1")])
    live.client("public_security", gm_keys).submit_records([identity_record()])
    # The client verifies the answer's SM2 signature against gateway.answer.pub.
    reply = live.client("org_department", gm_keys).query_subject(ADULT, "cadre_selection")
    assert reply.answer_signature.algorithm == SM2
    names = [f.value for r in reply.records if r.category == "identity"
             for f in r.fields if f.name == "name"]
    # The keyring holds gm keys only, so the clear name came through SM4-GCM.
    assert names == [NAME]
    assert any(r.category == "dishonest_debtor" for r in reply.records)


@pytest.mark.parametrize("suite", ["international", "gm"])
def test_a_gateway_refuses_keys_of_another_suite_than_configured(
        tmp_path: Path, gm_keys: Path, suite: str) -> None:
    keys = gm_keys if suite == "international" else KEYS
    config = Config(data_dir=tmp_path, keys_dir=keys, policies_dir=POLICIES, suite=suite)
    with pytest.raises(ConfigurationError, match="suite"):
        Gateway.open(config)


def test_a_gm_gateway_refuses_an_ed25519_answer_key(tmp_path: Path, gm_keys: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(gm_keys, keys)
    shutil.copy(KEYS / "gateway.answer.key", keys / "gateway.answer.key")
    config = Config(data_dir=tmp_path / "d", keys_dir=keys, policies_dir=POLICIES, suite="gm")
    with pytest.raises(ConfigurationError, match="sm2"):
        Gateway.open(config)


def test_keys_init_for_the_gm_suite_writes_gm_data_keys_and_an_sm2_answer_key(
        tmp_path: Path) -> None:
    from gateway.crypto.keyring import load_keyring
    from gateway.crypto.signers import load_signer, load_verifier

    assert main(["keys", "init", str(tmp_path / "k"), "--suite", "gm"]) == 0
    assert load_keyring(tmp_path / "k").active_suites() == {"gm"}
    signer = load_signer(tmp_path / "k" / "gateway.answer.key")
    assert signer.algorithm == SM2
    assert load_verifier(tmp_path / "k" / "gateway.answer.pub").raw == signer.public.raw
    assert "DEVELOPMENT" in (tmp_path / "k" / "gateway.answer.key").read_text()


def test_a_gm_key_set_signs_requests_and_consents_with_sm2_end_to_end(
        live_factory: Callable[..., LiveGateway], tmp_path: Path) -> None:
    from datetime import timedelta

    from gateway.crypto.signatures import load_party_verify_key
    from gateway.crypto.signers import load_signer
    from gateway.identify.request_signing import verify_audit_text

    keys = tmp_path / "gm-keys"
    assert main(["keys", "init", str(keys), "--suite", "gm"]) == 0
    assert load_signer(keys / "parties" / "court.sign.key").algorithm == SM2
    live = live_factory(keys_dir=keys, suite="gm")
    live.client("court", keys).submit_records([debtor_record("SM2-1")])
    now = live.gw.clock.now()
    consent = live.client("citizen_portal", keys).issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=1), max_uses=2)
    reply = live.client("credit_agency", keys).query_subject(
        ADULT, "authorised_query", consent_id=consent)
    assert [r.category for r in reply.records] == ["dishonest_debtor"]
    assert reply.answer_signature.algorithm == SM2
    # The audit keeps each SM2 request signature, and it verifies again from there.
    entries = [e for _, e in live.gw.audit.read(start=1, limit=20) if e.request_signature]
    query = next(e for e in entries if e.action == "query.subject")
    agency_key = load_party_verify_key(keys / "parties" / "credit_agency.sign.pub")
    verify_audit_text(agency_key, "/credgate.v1.QueryService/QuerySubject",
                      query.request_signature, party="credit_agency")



def test_a_gm_gateway_signs_checkpoints_reports_and_manifests_with_sm2(
        live_factory: Callable[..., LiveGateway], tmp_path: Path) -> None:
    import json
    from datetime import timedelta

    from gateway.audit.checkpoint import CheckpointError, verify_checkpoint
    from gateway.audit.export import export_range
    from gateway.crypto.signatures import load_verify_key
    from gateway.disclosure.credit_report import verify_report
    from gateway.disclosure.export import verify_manifest
    from gateway.errors import BadSignature

    keys = tmp_path / "gm-keys"
    assert main(["keys", "init", str(keys), "--suite", "gm"]) == 0
    log_pub = load_verify_key(keys / "gateway.log.pub")
    live = live_factory(keys_dir=keys, suite="gm")
    assert live.gw.log_key is not None and live.gw.log_key.algorithm == SM2
    live.client("court", keys).submit_records([debtor_record("SM2-CP")])
    # The checkpoint: an SM2 signature, its key ID naming the SM2 note type.
    note = live.gw.audit_evidence.checkpointer.checkpoint_now().note
    assert verify_checkpoint(note, log_pub).size >= 1
    with pytest.raises(CheckpointError):
        verify_checkpoint(note, load_verify_key(KEYS / "gateway.log.pub"))
    # A regulator's offline check of an export takes the SM2 key file as it is.
    export = tmp_path / "gm.export"
    evidence = live.gw.audit_evidence
    export_range(live.gw.audit, evidence.tree, evidence.checkpointer, export)
    assert main(["audit", "verify", str(export), "--log-key", str(keys / "gateway.log.pub")]) == 0
    # The personal credit report records its algorithm; another claim is refused.
    now = live.gw.clock.now()
    portal = live.client("citizen_portal", keys)
    consent = portal.issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=list(live.gw.catalogue.categories), not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=10), max_uses=10)
    report = portal.credit_report(ADULT, consent, ["dishonest_debtor"]).report
    assert json.loads(report)["algorithm"] == SM2
    assert verify_report(report, log_pub, subject_id=ADULT).categories == ["dishonest_debtor"]
    claimed = json.loads(report)
    claimed["algorithm"] = "ed25519"
    with pytest.raises(BadSignature):
        verify_report(json.dumps(claimed).encode(), log_pub)
    # The disclosure manifest names SM2 and verifies under the SM2 log key.
    feed = live.client("credit_website", keys).export_disclosure(timeout=30)
    doc = verify_manifest(feed.manifest, feed.signature, log_pub, feed.files)
    assert doc["signature_algorithm"] == SM2
    with pytest.raises(BadSignature):
        verify_manifest(feed.manifest.replace(b'"sm2"', b'"ed25519"'), feed.signature,
                        log_pub, feed.files)
