"""The credgate command line, called through main([...]) against a real gateway."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.cli.common import server_name_of
from gateway.clock import FixedClock
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, KEYS, POLICIES


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def client_args(live: LiveGateway, party: str) -> list[str]:
    return ["--target", live.target, "--party", party, "--keys", str(KEYS)]


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "submit", "query", "consent", "keys", "demo"):
        assert command in out
    for argv in (["consent", "issue", "--help"], ["keys", "init", "--help"],
                 ["submit", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "usage:" in capsys.readouterr().out


def test_submit_json_then_query(live: LiveGateway, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "records.json"
    path.write_text(json.dumps([debtor_record("CLI-1")], ensure_ascii=False), encoding="utf-8")
    assert main(["submit", str(path), *client_args(live, "court")]) == 0
    assert "stored 1 new record" in capsys.readouterr().out
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--json",
                 *client_args(live, "org_department")]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["records"][0]["category"] == "dishonest_debtor"


def test_submit_csv(live: LiveGateway, tmp_path: Path) -> None:
    record = debtor_record("CLI-CSV-1")
    path = tmp_path / "records.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        names = ["subject_id", "category", "severity", "event_date", "source_record_id"]
        writer = csv.writer(fh)
        writer.writerow(names + [f"field.{k}" for k in record["fields"]])
        writer.writerow([record[n] for n in names] + list(record["fields"].values()))
    assert main(["submit", str(path), *client_args(live, "court")]) == 0


def test_csv_keeps_line_breaks_domains_and_byte_order_mark(live: LiveGateway,
                                                          tmp_path: Path) -> None:
    record = debtor_record("CLI-CSV-2", obligation="第一行\n第二行")
    names = ["subject_id", "category", "severity", "event_date", "source_record_id", "domain"]
    path = tmp_path / "records.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # Excel writes a BOM
        writer = csv.writer(fh)
        writer.writerow(names + [f"field.{k}" for k in record["fields"]])
        writer.writerow([record.get(n, "") for n in names[:-1]] + ["taxation"]
                        + list(record["fields"].values()))
    assert main(["submit", str(path), *client_args(live, "court")]) == 0
    stored = live.gw.store.find_record_by_source("court", "CLI-CSV-2")
    assert stored is not None and stored.domain == "taxation"
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    [obligation] = [f.value for r in reply.records for f in r.fields if f.name == "obligation"]
    assert obligation == "第一行\n第二行"


@pytest.mark.parametrize("text", [
    # An unclosed quote would swallow the next rows into one value.
    'subject_id,category,severity,event_date,source_record_id,field.obligation\n'
    'A,dishonest_debtor,serious,2026-05-01,S-1,"no end\nB,dishonest_debtor,serious,'
    '2026-05-01,S-2,x\n',
    # A column the gateway does not know, a field named twice, a row too long.
    'subject_id,category,severity,event_date,source_record_id,obligation\n',
    'subject_id,category,severity,event_date,source_record_id,field.a,field.a\n',
    'subject_id,category,severity,event_date,source_record_id\nA,b,c,d,e,extra\n',
])
def test_malformed_csv_is_refused_whole(live: LiveGateway, tmp_path: Path,
                                        text: str) -> None:
    path = tmp_path / "records.csv"
    path.write_text(text, encoding="utf-8")
    assert main(["submit", str(path), *client_args(live, "court")]) == 2
    assert live.gw.audit.size() == 0  # nothing was even sent


@pytest.mark.parametrize("value", [None, 1.5, True])
def test_a_field_that_is_not_text_is_refused(live: LiveGateway, tmp_path: Path,
                                             value: object) -> None:
    record = debtor_record("CLI-J-1")
    record["fields"]["court_name"] = value
    path = tmp_path / "records.json"
    path.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    assert main(["submit", str(path), *client_args(live, "court")]) == 2
    assert live.gw.store.find_record_by_source("court", "CLI-J-1") is None


def test_refusal_exits_1_and_broken_input_exits_2(live: LiveGateway, tmp_path: Path) -> None:
    assert main(["query", ADULT, "--purpose", "cadre_selection",
                 *client_args(live, "credit_website")]) == 1
    assert main(["query", ADULT, "--purpose", "gossip",
                 *client_args(live, "org_department")]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert main(["submit", str(broken), *client_args(live, "court")]) == 2


def test_consent_issue_and_revoke(live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-C-1")])
    assert main(["consent", "issue", ADULT, "--grantee", "credit_agency", "--purpose",
                 "authorised_query", "--category", "dishonest_debtor", "--max-uses", "1",
                 *client_args(live, "citizen_portal")]) == 0
    consent_id = capsys.readouterr().out.strip()
    assert main(["query", ADULT, "--purpose", "authorised_query", "--consent", consent_id,
                 *client_args(live, "credit_agency")]) == 0
    assert main(["consent", "revoke", consent_id, "--reason", "done",
                 *client_args(live, "citizen_portal")]) == 0
    assert main(["query", ADULT, "--purpose", "authorised_query", "--consent", consent_id,
                 *client_args(live, "credit_agency")]) == 1


def test_keys_init_writes_a_fresh_set(tmp_path: Path) -> None:
    target = tmp_path / "keys"
    assert main(["keys", "init", str(target)]) == 0
    assert (target / "ca.crt").exists() and (target / "parties" / "court.crt").exists()
    assert "NEVER USE IN PRODUCTION" in (target / "README.txt").read_text(encoding="utf-8")
    assert main(["keys", "init", str(target)]) == 2  # refuses to overwrite without --force
    assert main(["keys", "init", str(target), "--force"]) == 0


def test_audit_query_and_export_then_verify(live: LiveGateway, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-A-1")])
    assert main(["audit", "query", "--requester", "court", "--json",
                 *client_args(live, "regulator")]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in listed] == ["records.submit"]
    assert main(["audit", "query", *client_args(live, "court")]) == 1  # not a regulator
    out = tmp_path / "log.jsonl"
    assert main(["audit", "export", str(out), *client_args(live, "regulator")]) == 0
    assert main(["audit", "verify", str(out), "--log-key",
                 str(KEYS / "gateway.log.pub")]) == 0
    # A refused export leaves the one already held untouched.
    held = out.read_bytes(), (tmp_path / "log.jsonl.checkpoint").read_bytes()
    assert main(["audit", "export", str(out), *client_args(live, "regulator")]) == 2
    assert main(["audit", "export", str(out), "--force", *client_args(live, "court")]) == 1
    assert (out.read_bytes(), (tmp_path / "log.jsonl.checkpoint").read_bytes()) == held
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_disclosure_export_writes_verified_files(live: LiveGateway, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-D-1")])
    today = live.gw.clock.now().date().isoformat()
    live.client("market_regulator").submit_records([penalty_record("CLI-D-2", "minor", today)])
    out = tmp_path / "site"
    assert main(["disclosure", "export", str(out), *client_args(live, "credit_website")]) == 0
    printed = capsys.readouterr().out
    # What was left out is said (counts only), from the signed manifest.
    assert "1 record(s)" in printed and "severity_not_public: 1" in printed
    assert json.loads((out / "manifest.json").read_bytes())["left_out"] == {
        "severity_not_public": 1}
    names = sorted(p.name for p in out.iterdir())
    assert names == ["disclosure.csv", "disclosure.json", "manifest.json", "manifest.sig"]
    assert ADULT.encode() not in (out / "disclosure.json").read_bytes()
    assert main(["disclosure", "export", str(out), *client_args(live, "credit_website")]) == 2
    assert main(["disclosure", "export", str(out), "--force",
                 *client_args(live, "court")]) == 1


def test_rollout_and_approve_print_the_change_in_access(live_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    # The second officer approves what the CLI shows: it must show the change.
    live = live_factory(policy_two_person=True)
    folder = tmp_path / "proposed"
    for name, data in read_bundle(POLICIES).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        extra = b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
        (folder / name).write_bytes(data + (extra if name == "policy.csv" else b""))
    assert main(["policy", "rollout", str(folder), "--target", live.target,
                 "--party", "security_officer"]) == 0
    proposed = capsys.readouterr().out
    [pending] = live.gw.rollout.versions(1)
    assert main(["policy", "approve", str(pending.id), "--target", live.target,
                 "--party", "security_officer_b"]) == 0
    approved = capsys.readouterr().out
    for out in (proposed, approved):
        assert "no change in effective access" not in out
        assert "hr_bureau" in out and "identity.mobile" in out and "gained" in out


@pytest.mark.parametrize("target, name", [
    ("127.0.0.1:7443", "localhost"), ("[::1]:7443", "localhost"), ("localhost:7443", "localhost"),
    ("credgate.example.gov:7443", "credgate.example.gov"), ("10.0.0.5:7443", "10.0.0.5"),
])
def test_the_certificate_name_follows_the_target(target: str, name: str) -> None:
    assert server_name_of(target) == name


def test_consent_commands_act_as_the_portal_by_default(live: LiveGateway) -> None:
    # As the README shows them: no --party for the portal's own commands.
    live.client("court").submit_records([debtor_record("CLI-P-1")])
    target = ["--target", live.target]
    assert main(["consent", "issue", ADULT, "--grantee", "credit_agency", "--purpose",
                 "authorised_query", "--category", "dishonest_debtor", "--max-uses", "1",
                 "--id", "consent:cli:0001", *target]) == 0
    assert main(["consent", "revoke", "consent:cli:0001", "--reason", "done", *target]) == 0


@pytest.mark.parametrize("argv", [
    ["consent", "issue", ADULT, "--grantee", "credit_agency", "--purpose",
     "authorised_query", "--category", "dishonest_debtor", "--not-before", "yesterday"],
    ["query", ADULT, "--purpose", "cadre_selection", "--party", "no_such_party"],
])
def test_broken_input_exits_2_without_a_traceback(live: LiveGateway, argv: list[str],
                                                  capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    assert main([*argv, "--target", live.target]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ADULT not in err and err.startswith("credgate: ")


def test_an_id_number_can_come_from_standard_input(live: LiveGateway,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Arguments show in `ps` to every local user; standard input does not.
    live.client("court").submit_records([debtor_record("CLI-STDIN-1")])
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADULT}\n"))
    assert main(["query", "-", "--purpose", "cadre_selection", "--json",
                 *client_args(live, "org_department")]) == 0
    assert json.loads(capsys.readouterr().out)["records"][0]["category"] == "dishonest_debtor"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["query", "-", "--purpose", "cadre_selection",
                 *client_args(live, "org_department")]) == 2
