"""Counties (县区) end to end: county parties submit and read only their county's records,
their checks count every record, and supervision counts by county (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.platform.instances import fresh_database, url_of
from tests.services.lifecycle_support import audit_entries, refused
from tests.services.records_data import penalty_record
from tests.support import ADULT, OTHER_ADULT

code = grpc.StatusCode


def county_penalty(source: str, county: str, subject: str = ADULT,
                   severity: str = "general") -> dict[str, Any]:
    """An administrative penalty of one county (or city-wide for "")."""
    return {**penalty_record(source, severity, "2026-10-01", subject=subject),
            "county": county}


@pytest.fixture(params=["sqlite", "postgres"])
def county_live(request: pytest.FixtureRequest, tmp_path: Path,
                clock: FixedClock) -> Iterator[LiveGateway]:
    """A live gateway on embedded SQLite, and one on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        running = start_live(tmp_path, clock)
        try:
            yield running
        finally:
            stop_live(running)
        return
    with fresh_database() as conninfo:
        running = start_live(tmp_path, clock, database=url_of(conninfo))
        try:
            yield running
        finally:
            stop_live(running)


def test_a_county_party_submits_and_reads_only_its_county(county_live: LiveGateway) -> None:
    live = county_live
    county = live.client("miyi_market_regulator")
    # Within its county, with its counterpart's remit.
    [ok] = county.submit_records([county_penalty("MY-1", "miyi")]).results
    assert ok.created
    # Another county, the whole city, or a category its counterpart does not provide.
    refused(lambda: county.submit_records([county_penalty("MY-2", "yanbian")]),
            code.PERMISSION_DENIED, "outside the remit")
    refused(lambda: county.submit_records([county_penalty("MY-3", "")]),
            code.PERMISSION_DENIED, "outside the remit")
    court_listing = {"subject_id": ADULT, "category": "dishonest_debtor",
                     "severity": "serious", "event_date": "2026-05-01", "county": "miyi",
                     "source_record_id": "MY-4", "fields": {"debtor_name": "欧阳明远"}}
    refused(lambda: county.submit_records([court_listing]), code.PERMISSION_DENIED,
            "outside the remit")
    # The city department submits for any county, and city-wide.
    city = live.client("market_regulator")
    city.submit_records([county_penalty("YB-1", "yanbian"), county_penalty("CW-1", ""),
                         county_penalty("YB-2", "yanbian", subject=OTHER_ADULT)])

    def seen(party: str, subject: str = ADULT) -> set[tuple[str, str]]:
        reply = live.client(party).query_subject(subject, "admin_licensing",
                                                 categories=["admin_penalty"])
        return {(r.provider, r.county) for r in reply.records}

    assert seen("market_regulator") == {("miyi_market_regulator", "miyi"),
                                        ("market_regulator", "yanbian"),
                                        ("market_regulator", "")}
    # The county regulator reads its county's records only: not the other county's, not
    # the city-wide one; a person with records elsewhere only is an empty answer.
    assert seen("miyi_market_regulator") == {("miyi_market_regulator", "miyi")}
    assert seen("miyi_market_regulator", OTHER_ADULT) == set()
    [entry, *_] = [e for e in audit_entries(live, "query.subject")
                   if e.requester == "miyi_market_regulator"]
    assert entry.decision == "allow"
    outside = [e for e in audit_entries(live, "records.submit") if e.decision == "deny"]
    assert {e.reason for e in outside} == {"outside_county", "outside_remit"}


def test_county_checks_count_every_record_and_supervision_counts_by_county(
        county_live: LiveGateway) -> None:
    live = county_live
    live.client("market_regulator").submit_records([county_penalty("YB-9", "yanbian")])
    # 一处失信，处处受限: Miyi's green channel (its county pilot) sees Yanbian's penalty.
    government = live.client("miyi_government")
    assert not government.green_channel(ADULT).eligible
    assert government.green_channel(OTHER_ADULT).eligible
    # ...but the county government reads nothing: the pilot grants the check only.
    refused(lambda: government.query_subject(ADULT, "admin_licensing"),
            code.PERMISSION_DENIED, "policy")
    live.client("miyi_market_regulator").submit_records([county_penalty("MY-9", "miyi")])
    reply = live.client("regulator").audit.SupervisionFigures(pb.SupervisionFiguresRequest(),
                                                              timeout=30)
    counties = {c.county: c for c in reply.counties}
    assert set(counties) == {"dongqu", "xiqu", "renhe", "miyi", "yanbian"}
    assert counties["miyi"].name_zh == "米易县"
    assert (counties["yanbian"].records_submitted, counties["yanbian"].records_in_use) == (1, 1)
    assert (counties["miyi"].records_submitted, counties["miyi"].queries,
            counties["miyi"].refused) == (1, 3, 1)
    assert counties["renhe"].records_submitted == counties["renhe"].queries == 0


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(county=st.one_of(st.sampled_from(["", "yanbian", "dongqu", "xiqu", "renhe", "MIYI",
                                         " miyi", "miyi ", "510421"]),
                        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                                max_size=12).filter(lambda c: c != "miyi")))
def test_no_other_county_gets_through(live: LiveGateway, county: str) -> None:
    # Every county value but the party's own is refused (unknown codes as bad input).
    with pytest.raises(grpc.RpcError) as info:
        live.client("miyi_market_regulator").submit_records(
            [county_penalty("MY-X", county)])
    # The message is one of two fixed texts: the value itself is never echoed.
    assert (info.value.code(), info.value.details()) in {
        (code.PERMISSION_DENIED, "record 0: the record's county is outside the remit of "
                                 "miyi_market_regulator"),
        (code.INVALID_ARGUMENT, "record 0: unknown county code")}
