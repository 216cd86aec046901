"""应查必查: departments declare their decisions; the supervision figures show the
decisions taken without a credit check, per department, purpose and month."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api import pb
from gateway.cli import main
from gateway.clock import CITY_TIME, FixedClock
from gateway.supervision.figures import supervision_figures
from gateway.supervision.mandatory_checks import MandatoryCheckFigures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused
from tests.support import ADULT, KEYS, OTHER_ADULT, TEENAGER

CODE = grpc.StatusCode


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def month_of(clock: FixedClock, days: int = 0) -> str:
    return (clock.now() + timedelta(days=days)).astimezone(CITY_TIME).strftime("%Y-%m")


def rows(live: LiveGateway) -> dict[tuple[str, str, str], MandatoryCheckFigures]:
    report = supervision_figures(live.gw.store, live.gw.audit_search, today=date(2030, 1, 1),
                                 catalogue=live.gw.state.catalogue)
    return {(m.department, m.purpose, m.month): m for m in report.mandatory_checks}


def test_checks_beside_declared_decisions(live: LiveGateway, clock: FixedClock,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    month = month_of(clock)
    org = live.client("org_department")
    for person in (ADULT, ADULT, OTHER_ADULT):
        org.query_subject(person, "cadre_selection")
    live.client("hr_bureau").query_subject(TEENAGER, "title_evaluation")
    # The organisation department took five cadre decisions: three people unchecked.
    org.declare_decisions([(month, "cadre_selection", 4)])
    org.declare_decisions([(month, "cadre_selection", 5)])  # a correction replaces it
    figures = rows(live)
    cadre = figures[("org_department", "cadre_selection", month)]
    assert (cadre.checks, cadre.people_checked, cadre.declared, cadre.without_check) == (
        3, 2, 5, 3)
    assert cadre.name_zh == "市委组织部" and cadre.purpose_zh == "干部选拔任职"
    titles = figures[("hr_bureau", "title_evaluation", month)]
    assert (titles.checks, titles.declared, titles.without_check) == (1, None, None)
    # The HR bureau imports a CSV of a year's declarations through the CLI.
    sheet = tmp_path / "decisions.csv"
    with sheet.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["month", "purpose", "decisions"])
        writer.writerow([month, "title_evaluation", "1"])
        writer.writerow([month, "personnel_exam", "12"])
    common = ["--target", live.target, "--keys", str(KEYS), "--party", "hr_bureau"]
    assert main(["decisions", "declare", "--csv", str(sheet), *common]) == 0
    assert "2 count(s) declared" in capsys.readouterr().out
    figures = rows(live)
    assert figures[("hr_bureau", "title_evaluation", month)].without_check == 0
    exams = figures[("hr_bureau", "personnel_exam", month)]
    assert (exams.checks, exams.declared, exams.without_check) == (0, 12, 12)
    # A regulator reads the same figures from the gateway (the console shows them).
    reply = live.client("regulator").audit.SupervisionFigures(
        pb.SupervisionFiguresRequest(as_of="2030-01-01"), timeout=30)
    wire = {(m.department, m.purpose, m.month): m for m in reply.mandatory_checks}
    assert set(wire) == set(figures)
    for key, row in figures.items():
        got = wire[key]
        assert (got.name_zh, got.purpose_zh, got.checks, got.people_checked) == (
            row.name_zh, row.purpose_zh, row.checks, row.people_checked)
        assert (got.decisions_declared if got.HasField("decisions_declared") else None,
                got.decisions_without_check if got.HasField("decisions_without_check")
                else None) == (row.declared, row.without_check)
    declared = audit_entries(live, "decisions.declare")
    assert [(e.requester, e.purpose, e.record_count) for e in declared][-2:] == [
        ("hr_bureau", "title_evaluation", 1), ("hr_bureau", "personnel_exam", 12)]
    # The report prints them and writes a third CSV file.
    out = tmp_path / "figures"
    assert main(["report", "supervision", "--data-dir", str(live.gw.config.data_dir),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "应查必查" in printed and "decisions_without_check" in printed
    with (out / "supervision-mandatory-checks.csv").open(encoding="utf-8-sig") as fh:
        written = {(r["department"], r["purpose"]): r for r in csv.DictReader(fh)}
    assert written[("org_department", "cadre_selection")]["decisions_without_check"] == "3"


def test_declarations_that_are_refused(live: LiveGateway, clock: FixedClock,
                                       tmp_path: Path) -> None:
    month = month_of(clock)
    org = live.client("org_department")
    refused(lambda: live.client("credit_agency").declare_decisions(
        [(month, "cadre_selection", 1)]), CODE.PERMISSION_DENIED, "departments")
    # A purpose without a mandatory check, or one the department has no rule for.
    refused(lambda: org.declare_decisions([(month, "authorised_query", 1)]),
            CODE.INVALID_ARGUMENT, "mandatory credit check")
    refused(lambda: live.client("tax_bureau").declare_decisions(
        [(month, "cadre_selection", 1)]), CODE.PERMISSION_DENIED, "no checks")
    for bad in ("2026-13", "26-01", "2026-1", f"{month}-01", "身份证"):
        refused(lambda bad=bad: org.declare_decisions([(bad, "cadre_selection", 1)]),
                CODE.INVALID_ARGUMENT, "month")
    refused(lambda: org.declare_decisions([(month, "cadre_selection", 10**8)]),
            CODE.INVALID_ARGUMENT, "at most")
    refused(lambda: org.declare_decisions([]), CODE.INVALID_ARGUMENT, "1 to")
    denied = [e for e in audit_entries(live, "decisions.declare") if e.decision == "deny"]
    assert len(denied) == 10 and all(e.record_count == 0 for e in denied)
    sheet = tmp_path / "bad.csv"
    sheet.write_text("month,purpose,decisions\n2026-01,cadre_selection,many\n",
                     encoding="utf-8")
    assert main(["decisions", "declare", "--csv", str(sheet), "--target", live.target,
                 "--keys", str(KEYS), "--party", "org_department"]) == 2
