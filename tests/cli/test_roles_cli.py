"""Every service has a command: the record lifecycle, checks, blacklist and audit proofs,
called through main([...]) against a real gateway."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, KEYS


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def as_party(live: LiveGateway, party: str) -> list[str]:
    return ["--target", live.target, "--party", party, "--keys", str(KEYS)]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_objection_file_list_answer_and_the_access_report(
        live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-OB-1")])
    consent = self_consent(live)
    # The department's query table names the record, its provider and display end.
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--category",
                 "dishonest_debtor", "--category", "tax_credit_rating",
                 *as_party(live, "org_department")]) == 0
    out = capsys.readouterr().out
    [record_id] = [line.split()[0] for line in out.splitlines() if "dishonest_debtor" in line
                   and line.split()[0] != "withheld"][:1]
    assert "court" in out and "removal" in out and "DISPUTED" not in out
    filed = run_json(capsys, ["objection", "file", ADULT, "--consent", consent, "--record",
                              record_id, "--reason", "已履行", "--target", live.target])
    assert isinstance(filed, dict) and isinstance(filed["audit_seq"], int)
    objection_id = filed["objection"]["objection_id"]
    # Queriers see the mark at once.
    assert main(["query", ADULT, "--purpose", "cadre_selection",
                 *as_party(live, "org_department")]) == 0
    assert "DISPUTED" in capsys.readouterr().out
    # The provider lists and answers it; regulators list without the texts.
    assert main(["objection", "list", "--status", "open", *as_party(live, "court")]) == 0
    assert objection_id in capsys.readouterr().out
    listed = run_json(capsys, ["objection", "list", *as_party(live, "regulator")])
    assert isinstance(listed, list) and listed[0]["reason"] == ""
    assert main(["objection", "answer", objection_id, "--outcome", "uphold", "--note", "维持",
                 *as_party(live, "court")]) == 0
    assert "answered, upheld" in capsys.readouterr().out
    # Only the provider answers, and a correction needs its file.
    assert main(["objection", "answer", objection_id, "--outcome", "withdraw",
                 *as_party(live, "tax_bureau")]) == 1
    assert main(["objection", "answer", objection_id, "--outcome", "correct",
                 *as_party(live, "court")]) == 2
    capsys.readouterr()
    # The person's access report: the query released data, a check only read it.
    live.client("tax_bureau").joint_punishment(ADULT, "high_consumption")
    report = run_json(capsys, ["access-report", ADULT, "--consent", consent,
                               "--target", live.target])
    assert isinstance(report, list)
    accesses = {(e["party"], a["category"], a["access"]) for e in report for a in e["access"]}
    assert ("org_department", "dishonest_debtor", "released") in accesses
    assert ("tax_bureau", "dishonest_debtor", "allowed") in accesses
    assert main(["access-report", ADULT, "--consent", consent, "--target", live.target]) == 0
    table = capsys.readouterr().out
    assert "dishonest_debtor (released)" in table and "dishonest_debtor (allowed)" in table


def test_repair_apply_decide_and_record_remove(live: LiveGateway,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    live.client("market_regulator").submit_records([penalty_record("CLI-RP-1", "minor",
                                                                   "2026-11-01")])
    live.client("court").submit_records([debtor_record("CLI-RM-1")])
    consent = self_consent(live)
    records = live.client("citizen_portal").query_subject(ADULT, "self_query",
                                                          consent_id=consent).records
    [penalty] = [r.record_id for r in records if r.category == "admin_penalty"]
    applied = run_json(capsys, ["repair", "apply", ADULT, "--consent", consent, "--record",
                                penalty, "--statement", "罚款已缴清", "--target", live.target])
    assert isinstance(applied, dict) and applied["repair"]["status"] == "pending"
    repair_id = applied["repair"]["repair_id"]
    assert main(["repair", "list", "--status", "pending",
                 *as_party(live, "market_regulator")]) == 0
    assert repair_id in capsys.readouterr().out
    assert main(["repair", "decide", repair_id, "--approve", "--reason", "已整改",
                 *as_party(live, "market_regulator")]) == 0
    assert "approved" in capsys.readouterr().out
    # Removal: by the provider's own id, with a reason code (a near miss is named).
    assert main(["record", "remove", "--source-record-id", "CLI-RM-1", "--reason",
                 "obligation_performd", *as_party(live, "court")]) == 2
    assert "did you mean obligation_performed?" in capsys.readouterr().err
    assert main(["record", "remove", "--source-record-id", "CLI-RM-1", "--reason",
                 "obligation_performed", *as_party(live, "tax_bureau")]) in (1, 2)
    assert main(["record", "remove", "--source-record-id", "CLI-RM-1", "--reason",
                 "obligation_performed", *as_party(live, "court")]) == 0
    assert "removed at" in capsys.readouterr().out


def test_checks_and_the_blacklist(live: LiveGateway, capsys: pytest.CaptureFixture[str]
                                  ) -> None:
    live.client("court").submit_records([debtor_record("CLI-CK-1")])
    assert main(["check", "joint-punishment", ADULT, "--measure", "high_consumption",
                 *as_party(live, "tax_bureau")]) == 0
    out = capsys.readouterr().out
    assert "yes" in out and "限制高消费" in out
    green = run_json(capsys, ["check", "green-channel", ADULT,
                              *as_party(live, "market_regulator")])
    assert isinstance(green, dict) and green["eligible"] is False
    assert main(["check", "green-channel", ADULT, *as_party(live, "credit_website")]) == 1
    # The blacklist: a listed agency is refused; lifting lets it back.
    assert main(["blacklist", "add", "credit_agency_b", "--reason", "转售查询结果",
                 "--target", live.target]) == 0
    assert "blacklisted at" in capsys.readouterr().out
    listed = run_json(capsys, ["blacklist", "list", "--target", live.target])
    assert isinstance(listed, list) and [e["party"] for e in listed] == ["credit_agency_b"]
    assert main(["blacklist", "list", *as_party(live, "regulator")]) == 0
    assert "credit_agency_b" in capsys.readouterr().out
    assert main(["blacklist", "lift", "credit_agency_b", "--reason", "已整改",
                 "--target", live.target]) == 0
    assert main(["blacklist", "list", "--target", live.target]) == 0
    assert "no agency is blacklisted" in capsys.readouterr().out


def test_audit_checkpoint_and_proofs(live: LiveGateway, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-PF-1")])
    kept = tmp_path / "kept.checkpoint"
    assert main(["audit", "checkpoint", "--fresh", "--out", str(kept),
                 "--target", live.target]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert main(["audit", "checkpoint", "--out", str(kept), "--target", live.target]) == 2
    assert "--force" in capsys.readouterr().err
    live.client("court").submit_records([debtor_record("CLI-PF-2")])
    proof = run_json(capsys, ["audit", "proof", "--seq", "1", "--target", live.target])
    assert isinstance(proof, dict) and proof["verified"] is True
    assert main(["audit", "proof", "--previous", str(kept), "--target", live.target]) == 0
    assert "without changing any of the first" in capsys.readouterr().out
    # A checkpoint the log key did not sign is a failed verification.
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(kept.read_text(encoding="utf-8").replace("\n\n", "\n\n", 1)
                      .replace("— ", "— x", 1), encoding="utf-8")
    assert main(["audit", "proof", "--previous", str(forged), "--target", live.target]) in (
        1, 2)
    assert "Traceback" not in capsys.readouterr().err
    assert main(["audit", "proof", "--seq", "1", *as_party(live, "court")]) == 1


@pytest.mark.parametrize("argv", [
    ["objection", "list", "--help"], ["objection", "file", "--help"],
    ["objection", "answer", "--help"], ["access-report", "--help"],
    ["repair", "apply", "--help"], ["repair", "decide", "--help"],
    ["record", "remove", "--help"], ["check", "green-channel", "--help"],
    ["check", "joint-punishment", "--help"], ["blacklist", "add", "--help"],
    ["blacklist", "lift", "--help"], ["blacklist", "list", "--help"],
    ["audit", "proof", "--help"], ["audit", "checkpoint", "--help"],
])
def test_every_new_command_has_help_with_an_example(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert "--json" in out and "example:\n  credgate " in out


def test_every_command_has_an_example() -> None:
    import argparse

    from gateway.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]
               ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [(path, parser)]
        return [leaf for a in subs for name, p in a.choices.items()
                for leaf in leaves(p, (*path, name))]

    missing = [" ".join(path) for path, p in leaves(build_parser(), ())
               if not (p.epilog or "").startswith("example:\n  credgate ")]
    assert missing == []
