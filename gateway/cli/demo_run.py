"""The main job on embedded defaults: a short day at the city's credit gateway.

Starts a gateway on a fresh SQLite directory with the development keys and the
policies in policies/, lets departments submit, lets parties query, and prints who
asked what and what each got, then the audit entries.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import grpc

from gateway.api import pb
from gateway.app import Gateway
from gateway.audit.verifier import verify_export
from gateway.cli.common import print_table, terminal_width
from gateway.cli.demo_lifecycle import run_lifecycle
from gateway.cli.demo_peers import run_peers
from gateway.cli.demo_plan import run_rewards
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import city_today
from gateway.config import Config, load_config
from gateway.crypto.signatures import load_verify_key
from gateway.pii.idnumber import make_id_number
from gateway.protect.masking import mask_id_number
from gateway.records.checks import incentive_categories
from gateway.server import start_server

# Synthetic people (the names are invented; the ID numbers are valid but fictitious).
CANDIDATE = make_id_number("330106", date(1982, 4, 17), 113)
BORROWER = make_id_number("330105", date(1990, 11, 3), 246)

#: Where a new user goes from here (each line fits an 80-column terminal).
NEXT_STEPS = """
next, try:
  1. Run a gateway of your own: `credgate serve --data-dir var` in one terminal,
     then act as a party from another; README.md lists each role's commands.
  2. Ask why a party may (or may not) see a field, without a gateway:
     credgate policy explain --party credit_agency --purpose authorised_query \\
         --object identity.address --consent
  3. Read every refusal as the regulator (against the gateway from step 1):
     credgate audit query --decision deny"""


def demo_records(today: date) -> dict[str, list[dict[str, object]]]:
    """What each department submits in the demo."""
    return {
        "court": [
            {"subject_id": CANDIDATE, "category": "dishonest_debtor", "severity": "serious",
             "event_date": (today - timedelta(days=200)).isoformat(),
             "source_record_id": "(2026)浙01执1234号",
             "fields": {"debtor_name": "欧阳明远", "case_number": "(2026)浙01执1234号",
                        "court_name": "某市中级人民法院",
                        "obligation": "支付货款人民币120,000元及利息",
                        "performance": "未履行", "amount": "120000.00",
                        "address": "浙江省杭州市西湖区文三路100号3幢201室"}},
            {"subject_id": BORROWER, "category": "dishonest_debtor", "severity": "serious",
             "event_date": (today - timedelta(days=30)).isoformat(),
             "source_record_id": "(2026)浙01执5678号",
             "fields": {"debtor_name": "李小红", "case_number": "(2026)浙01执5678号",
                        "court_name": "某市中级人民法院", "obligation": "归还借款50,000元"}},
        ],
        "tax_bureau": [
            {"subject_id": CANDIDATE, "category": "tax_credit_rating",
             "severity": "not_applicable",
             "event_date": (today - timedelta(days=90)).isoformat(),
             "source_record_id": "TAX-2026-000731",
             "fields": {"taxpayer_name": "欧阳明远", "rating": "B", "rating_year": "2025",
                        "arrears": "0.00"}},
        ],
        "public_security": [
            {"subject_id": CANDIDATE, "category": "identity", "severity": "not_applicable",
             "event_date": "2000-05-01", "source_record_id": "PSB-ID-88213",
             "fields": {"name": "欧阳明远", "gender": "男", "ethnicity": "汉族",
                        "address": "浙江省杭州市西湖区文三路100号3幢201室",
                        "mobile": "13812345678"}},
        ],
    }


@dataclass
class Outcome:
    """One step of the demo as shown in the summary."""

    who: str
    asked: str
    got: str


def _query_summary(reply: object) -> str:
    records = getattr(reply, "records", [])
    parts = []
    for rec in records:
        masked = sum(1 for f in rec.fields if f.disclosure == 2)
        parts.append(f"{rec.category}({len(rec.fields)} fields, {masked} masked, "
                     f"{len(rec.withheld_fields)} withheld)")
    return "allowed: " + (", ".join(parts) if parts else "no records")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(config: Config | None = None, *, out: Path | None = None) -> int:
    """Run the demo scenario end to end; returns 0 when every step behaved as expected."""
    with tempfile.TemporaryDirectory(prefix="credgate-demo-") as tmp:
        config = config or load_config(data_dir=Path(out or tmp), development=True)
        gw = Gateway.open(config)
        running = start_server(gw, listen="127.0.0.1:0")
        target = f"127.0.0.1:{running.port}"
        outcomes: list[Outcome] = []
        unexpected = 0

        def client(party: str) -> CredgateClient:
            return CredgateClient(target, PartyCredentials.from_keys_dir(config.keys_dir, party))

        def expect_refusal(who: str, asked: str, call: object) -> None:
            nonlocal unexpected
            try:
                call()  # type: ignore[operator]
            except grpc.RpcError as err:
                outcomes.append(Outcome(who, asked, f"refused: {err.code().name}: "
                                                    f"{err.details()}"))
                return
            unexpected += 1
            outcomes.append(Outcome(who, asked, "UNEXPECTEDLY ALLOWED"))

        try:
            today = city_today(gw.clock)
            for party, records in demo_records(today).items():
                with client(party) as c:
                    reply = c.submit_records(records)
                cats = sorted({str(r["category"]) for r in records})
                outcomes.append(Outcome(party, f"submit {len(records)} record(s): "
                                               f"{', '.join(cats)}",
                                        f"stored {sum(r.created for r in reply.results)}"))
            with client("court") as c:
                expect_refusal("court", "submit tax_credit_rating (outside its remit)",
                               lambda: c.submit_records([{
                                   "subject_id": CANDIDATE, "category": "tax_credit_rating",
                                   "severity": "not_applicable", "event_date": "2025-01-01",
                                   "source_record_id": "X-1",
                                   "fields": {"taxpayer_name": "欧阳明远", "rating": "A",
                                              "rating_year": "2024"}}]))
            who = mask_id_number(CANDIDATE)
            with client("org_department") as c:
                reply = c.query_subject(CANDIDATE, "cadre_selection")
                outcomes.append(Outcome("org_department", f"query {who} for cadre_selection",
                                        _query_summary(reply)))
                shown_reply = reply
            with client("citizen_portal") as c:
                now = gw.clock.now()
                consent_id = c.issue_consent(
                    subject_id=CANDIDATE, grantee="credit_agency", purpose="authorised_query",
                    categories=["dishonest_debtor", "identity"], not_before=now,
                    not_after=now + timedelta(days=30), max_uses=2)
                outcomes.append(Outcome("citizen_portal",
                                        "consent: credit_agency, authorised_query, "
                                        "dishonest_debtor + identity, 30 days, 2 uses",
                                        f"registered {consent_id}"))
            with client("credit_agency") as c:
                reply = c.query_subject(CANDIDATE, "authorised_query", consent_id=consent_id)
                outcomes.append(Outcome("credit_agency",
                                        f"query {who} for authorised_query with consent",
                                        _query_summary(reply)))
                expect_refusal("credit_agency", f"query {who} for authorised_query, no consent",
                               lambda: c.query_subject(CANDIDATE, "authorised_query"))
            with client("credit_website") as c:
                expect_refusal("credit_website", f"query {who} for cadre_selection",
                               lambda: c.query_subject(CANDIDATE, "cadre_selection"))

            def report(who: str, asked: str, got: str, as_expected: bool) -> None:
                nonlocal unexpected
                unexpected += not as_expected
                outcomes.append(Outcome(who, asked, got if as_expected else
                                        f"UNEXPECTED: {got}"))

            # The record lifecycle: an objection corrected, a penalty repaired.
            run_lifecycle(client, gw.clock.now(), borrower=BORROWER, candidate=CANDIDATE,
                          categories=list(gw.catalogue.categories), report=report,
                          expect_refusal=expect_refusal)
            # Rewards: an honour list published with agreement, incentives checked.
            reads = incentive_categories(gw.catalogue.incentives["credit_loan_discount"],
                                         gw.catalogue)
            run_rewards(client, gw.clock.now(), candidate=CANDIDATE,
                        incentive_reads=list(reads), report=report,
                        expect_refusal=expect_refusal,
                        log_pub=config.keys_dir / "gateway.log.pub")
            # Platforms: the city and the province, each with its own CA, exchange.
            run_peers(Path(tmp), report)

            width = terminal_width()
            print("\ncredgate demo: who asked, for what, and what each got\n")
            print_table(["party", "asked", "got"], [[o.who, o.asked, o.got] for o in outcomes],
                        max_width=width)
            print("\nwhat the organisation department saw for cadre selection:\n")
            rows = [[r.category, f.name, f.value, "masked" if f.disclosure == 2 else "clear"]
                    for r in shown_reply.records for f in r.fields]
            print_table(["category", "field", "value", "release"], rows, max_width=width)
            print("\naudit log (subjects appear only as keyed blind indexes):\n")
            entries = gw.audit.read(start=1, limit=1000)
            print_table(
                ["#", "party", "action", "purpose", "subject", "decision", "fields"],
                [[seq, e.requester, e.action, e.purpose or "-",
                  (e.subject_index.split(":")[-1][:6] + "…") if e.subject_index else "-",
                  e.decision, len(e.fields_released)]
                 for seq, e in entries], max_width=width)
            verified = export_and_verify(client("regulator"), config.keys_dir, Path(tmp))
            if not verified:
                unexpected += 1
        finally:
            running.stop(grace=1.0)
            gw.close()
        print(f"\n{len(outcomes)} steps, {unexpected} unexpected outcome(s)")
        print(NEXT_STEPS)
        return 0 if unexpected == 0 else 1


def export_and_verify(regulator: CredgateClient, keys_dir: Path, workdir: Path) -> bool:
    """The regulator exports the log and verifies it offline with the log's public key."""
    out = workdir / "audit-export.jsonl"
    with regulator, out.open("wb") as fh:
        checkpoint = ""
        for chunk in regulator.audit.ExportAudit(pb.ExportAuditRequest(), timeout=60):
            fh.write(chunk.jsonl)
            checkpoint = chunk.checkpoint or checkpoint
    report = verify_export(out, checkpoint, load_verify_key(keys_dir / "gateway.log.pub"))
    print("\nthe regulator's offline check of the exported log\n"
          "(`credgate audit verify EXPORT --log-key gateway.log.pub`):\n")
    print(f"  {report.entries} entries, signed checkpoint at size {report.checkpoint_size}: "
          f"{'verified' if report.ok else 'FAILED: ' + str(report.failure)}")
    return bool(report.ok)
