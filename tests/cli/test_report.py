"""`credgate report supervision`: the lead department's figures, as a table and CSV."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT


def activity(live: LiveGateway, clock: FixedClock) -> None:
    """Submissions 10 and 27 days late, a query, a refusal, an objection gone overdue."""
    live.client("court").submit_records([debtor_record("SV-1", event_date="2026-11-18"),
                                         debtor_record("SV-2", subject=OTHER_ADULT,
                                                       event_date="2026-11-01")])
    live.client("market_regulator").submit_records([penalty_record("SV-P", "general",
                                                                   "2026-11-28")])
    # Records of a county, from the county's own department and from the city's.
    live.client("miyi_market_regulator").submit_records([
        {**penalty_record("SV-M", "general", "2026-11-20"), "county": "miyi"}])
    live.client("market_regulator").submit_records([
        {**penalty_record("SV-Y", "general", "2026-11-28", subject=OTHER_ADULT),
         "county": "yanbian"}])
    live.client("miyi_market_regulator").query_subject(ADULT, "admin_licensing")
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        live.client("credit_agency").query_subject(ADULT, "authorised_query")
    live.client("tax_bureau").joint_punishment(ADULT, "high_consumption")
    consent = self_consent(live)
    [record] = own_records(live, consent, category="dishonest_debtor")
    live.client("citizen_portal").file_objection(ADULT, consent, record.record_id, "有误")
    clock.advance(timedelta(days=21))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_supervision_figures_table_and_csv(live: LiveGateway, clock: FixedClock,
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    activity(live, clock)
    out = tmp_path / "figures"
    code = main(["report", "supervision", "--data-dir", str(live.gw.config.data_dir),
                 "--out", str(out), "--as-of", "2026-12-19"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "providing departments" in printed and "中级人民法院" in printed
    providers = {r["provider"]: r for r in read_csv(out / "supervision-providers.csv")}
    assert providers["court"] == {
        "provider": "court", "name_zh": "中级人民法院", "records_submitted": "2",
        "median_lag_days": "18.5", "max_lag_days": "27", "objections_open": "1",
        "objections_overdue": "1", "repairs_granted": "0", "repairs_refused": "0",
        "published_late": "0"}
    assert providers["market_regulator"]["max_lag_days"] == "0"
    assert providers["civil_affairs"]["records_submitted"] == "0"
    queriers = {(r["party"], r["purpose"]): r for r in read_csv(out / "supervision-queriers.csv")}
    assert queriers[("org_department", "cadre_selection")]["queries"] == "2"
    assert queriers[("org_department", "cadre_selection")]["refused"] == "0"
    assert queriers[("credit_agency", "authorised_query")]["refused"] == "1"
    assert queriers[("tax_bureau", "joint_punishment")]["queries"] == "1"
    counties = {r["county"]: r for r in read_csv(out / "supervision-counties.csv")}
    assert counties["miyi"] == {"county": "miyi", "name_zh": "米易县", "records_submitted": "1",
                                "records_in_use": "1", "objections_open": "0",
                                "queries": "1", "refused": "0"}
    assert counties["yanbian"]["records_submitted"] == "1"
    assert counties["dongqu"]["records_submitted"] == counties["dongqu"]["queries"] == "0"
    assert "县区" in printed
    everything = printed + (out / "supervision-providers.csv").read_text(encoding="utf-8-sig") \
        + (out / "supervision-queriers.csv").read_text(encoding="utf-8-sig") \
        + (out / "supervision-counties.csv").read_text(encoding="utf-8-sig")
    assert ADULT not in everything and OTHER_ADULT not in everything
    # On the due date itself the objection is open but not yet overdue.
    assert main(["report", "supervision", "--data-dir", str(live.gw.config.data_dir),
                 "--out", str(out), "--as-of", "2026-12-18", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    court = next(p for p in figures["providers"] if p["provider"] == "court")
    assert (court["objections_open"], court["objections_overdue"]) == ("1", "0")


def test_a_missing_data_directory_is_broken_input(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "supervision", "--data-dir", str(tmp_path / "nothing"),
                 "--out", str(tmp_path)]) == 2
    assert "no gateway data" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()
