"""The independent Node.js client (clients/node) against the vectors and a live gateway.

It is written from docs/request-signing.md alone (grpc-js, proto-loader, Node's own
Ed25519), so what it proves is that the contract, the signatures and the consent
artefacts are portable. The fixture installs its dependencies with `npm ci` (from the
committed package-lock.json); without node the tests are skipped, saying so.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from gateway.api import pb
from gateway.audit.signatures import verify_entry_signatures
from gateway.clock import FixedClock
from gateway.consent.artefacts import parse_artefact
from gateway.crypto.signatures import load_party_verify_key
from gateway.crypto.signers import load_verifier
from gateway.respond.answers import verify_answer_bytes
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, NOW, REPO

pytestmark = pytest.mark.e2e

NODE_CLIENT = REPO / "clients" / "node"
VECTORS = REPO / "tests" / "vectors" / "request-signing"
PROTO = REPO / "proto" / "credgate" / "v1" / "credgate.proto"


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with the client's dependencies installed by `npm ci`."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the Node.js client (clients/node) "
                    "needs Node 20 or later")
    major = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(major.stdout.strip().lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"node {major.stdout.strip()} is older than the Node 20 the client needs")
    installed = NODE_CLIENT / "node_modules" / ".package-lock.json"
    lock = NODE_CLIENT / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, check=True,
                       capture_output=True, timeout=300)
    return node


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """A gateway with a dishonest-debtor record for ADULT (one for the module)."""
    running = start_live(tmp_path_factory.mktemp("node"), FixedClock(NOW))
    running.client("court").submit_records([debtor_record("NODE-1")])
    try:
        yield running
    finally:
        stop_live(running)


def test_the_node_client_reproduces_the_vectors(node: str) -> None:
    run = subprocess.run([node, "bin/check-vectors.js", str(VECTORS), str(PROTO)],
                         cwd=NODE_CLIENT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    accepted = [p.stem for p in VECTORS.glob("*.json")
                if json.loads(p.read_text(encoding="utf-8"))["expect"] == "accept"]
    # Every accepted vector is reproduced by the Node signer or verifier; every answer
    # and consent vector, refusals too, reaches its outcome in Node.
    for name in accepted + [p.stem for p in VECTORS.glob("answer-*.json")]:
        assert f"PASS {name}.json" in "\n".join(lines), name


def test_a_node_client_calls_a_live_gateway(node: str, live: LiveGateway) -> None:
    settings = {"target": live.target, "keys": str(KEYS), "proto": str(PROTO),
                "now": live.gw.clock.now().isoformat(), "subject": ADULT}
    run = subprocess.run([node, "bin/scenario.js"], cwd=NODE_CLIENT, input=json.dumps(settings),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert ADULT not in run.stderr
    result = json.loads(run.stdout)

    # 1. The consent artefact Node built and signed is canonical, and was registered.
    terms = parse_artefact(base64.b64decode(result["artefact_base64"]))
    assert (terms.consent_id, terms.grantee, terms.subject_id) == (
        result["consent_id"], "credit_agency", ADULT)
    # 2. The query with it released the consented category; Node verified the answer,
    # and the same received bytes verify here for the same party, call and request.
    query = result["query"]
    assert query["categories"] == ["dishonest_debtor"]
    answer, signed = verify_answer_bytes(
        base64.b64decode(query["raw_base64"]), pb.QuerySubjectResponse,
        load_verifier(KEYS / "gateway.answer.pub"), method="/credgate.v1.QueryService/"
        "QuerySubject", party="credit_agency", request_digest=query["digest"])
    assert str(signed.audit_seq) == query["audit_seq"] == str(answer.audit_seq)  # type: ignore[attr-defined]
    # 3. The check answered, signed for the tax bureau.
    assert result["check"] == {"restricted": True, "audit_seq": result["check"]["audit_seq"],
                               "signed_party": "tax_bureau"}
    # 4. Each refusal reached Node as UNAUTHENTICATED (16) and the audit says why.
    refusals = result["refusals"]
    assert {name: (r["refused"], r["code"]) for name, r in refusals.items()} == {
        name: (True, 16) for name in ("bad_signature", "replay", "tampered")}
    entries = live.gw.audit.read(start=1, limit=1000)
    reasons = [e.reason for _, e in entries if e.requester == "tax_bureau"
               and e.decision == "deny"]
    assert reasons == ["request_bad_signature", "request_replayed", "request_bad_signature"]
    # 5. An answer changed after signing does not verify in Node.
    assert result["altered_answer_refused"] is True
    # The gateway's log keeps Node's request signatures, and they verify again from it.
    node_calls = [(seq, e) for seq, e in entries
                  if e.requester in ("citizen_portal", "credit_agency", "tax_bureau")
                  and e.decision == "allow"]
    assert {e.action for _, e in node_calls} >= {"consent.issue", "query.subject"}
    keys = {p: load_party_verify_key(KEYS / "parties" / f"{p}.sign.pub")
            for p in ("citizen_portal", "credit_agency", "tax_bureau")}
    assert verify_entry_signatures(node_calls, keys) == (len(node_calls), 0)


def test_the_node_client_is_not_a_translation(node: str) -> None:
    """It reads no Python and calls no Python: the docs are its only source."""
    for source in (NODE_CLIENT / "src").glob("*.js"):
        text = source.read_text(encoding="utf-8")
        assert "python" not in text.lower() and "child_process" not in text, source.name
