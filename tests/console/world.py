"""A gateway with some history, consoles for three officers, and one headless Chromium.

Session-scoped: starting Chromium and a gateway once keeps the browser tests to seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.clock import FixedClock
from gateway.console.runner import RunningConsole, bind_loopback, make_context, start_background
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.support import ADULT, KEYS, NOW, POLICIES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Set to a folder (docs/console) to keep the screenshots there as well.
SHOTS_ENV = "CREDGATE_CONSOLE_SCREENSHOTS"
# The rule the proposal adds: civil affairs may read volunteer service for awards.
ADDED_RULE = "p, civil_affairs, volunteer_service, read, awards, allow,\n"


@dataclass
class World:
    """Everything the console tests share."""

    live: LiveGateway
    clock: FixedClock
    regulator: RunningConsole
    author: RunningConsole  # security_officer, who proposed the change
    second: RunningConsole  # security_officer_b, who may approve it
    proposal_id: int
    second_proposal_id: int  # left for rejection
    shots: list[Path]


def _seed(live: LiveGateway, clock: FixedClock) -> None:
    """Records, allowed and refused queries over a few days."""
    court = live.client("court")
    submitted = court.submit_records([{
        "subject_id": ADULT, "category": "dishonest_debtor", "severity": "serious",
        "event_date": "2026-10-01", "source_record_id": "console-1",
        "fields": {"debtor_name": "王小明", "case_number": "(2026)浙0106执1号",
                   "obligation": "repay the loan", "court_name": "杭州市西湖区人民法院"}}])
    civil = live.client("civil_affairs")
    civil.submit_records([{
        "subject_id": ADULT, "category": "volunteer_service", "severity": "not_applicable",
        "event_date": "2026-09-01", "source_record_id": "console-v1",
        "fields": {"organisation": "西湖区志愿者协会", "hours": "120"}}])
    portal = live.client("citizen_portal")
    own = portal.issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=["dishonest_debtor"], not_before=clock.now(),
        not_after=clock.now() + timedelta(days=60), max_uses=5)
    portal.file_objection(ADULT, own, submitted.results[0].record_id, "这条记录有误")
    org = live.client("org_department")
    agency = live.client("credit_agency")
    consent = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor"], not_before=clock.now(),
        not_after=clock.now() + timedelta(days=30), max_uses=2)
    for day in range(4):
        for _ in range(day + 1):
            org.query_subject(ADULT, "cadre_selection")
        with contextlib.suppress(grpc.RpcError):  # refused: no consent
            agency.query_subject(ADULT, "authorised_query")
        if day % 2:
            agency.query_subject(ADULT, "authorised_query", consent_id=consent)
        clock.advance(timedelta(days=1))


def _proposal(live: LiveGateway, tmp: Path, rule: str = ADDED_RULE) -> int:
    bundle = tmp / f"proposed-{abs(hash(rule))}"
    shutil.copytree(POLICIES, bundle)
    with (bundle / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(rule)
    from gateway.policy.rollout import read_bundle

    version = live.client("security_officer").propose_policy(read_bundle(bundle))
    assert version.status == "pending", version.reason
    return int(version.id)


def _console(live: LiveGateway, clock: FixedClock, party: str, state: Path) -> RunningConsole:
    sock = bind_loopback(0)
    context = make_context(live.client(party), target=live.target,
                           log_key=KEYS / "gateway.log.pub", state_dir=state / party,
                           port=sock.getsockname()[1], policies_dir=POLICIES, clock=clock)
    return start_background(context, sock)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A gateway with history and a pending proposal; three officers' consoles."""
    tmp = tmp_path_factory.mktemp("console")
    clock = FixedClock(NOW - timedelta(days=4))
    live = start_live(tmp, clock, policy_two_person=True)
    consoles: list[RunningConsole] = []
    try:
        _seed(live, clock)
        proposal = _proposal(live, tmp)
        other = _proposal(live, tmp, "p, civil_affairs, donation, read, awards, allow,\n")
        for party in ("regulator", "security_officer", "security_officer_b"):
            consoles.append(_console(live, clock, party, tmp / "state"))
        yield World(live, clock, *consoles, proposal_id=proposal, second_proposal_id=other,
                    shots=[])
    finally:
        for c in consoles:
            c.stop()
        stop_live(live)


@pytest.fixture(scope="session")
def browser(world: World) -> Iterator[object]:
    """One headless Debian Chromium driven through Debian's chromedriver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver must be installed (.ci/apt-packages.txt)")
        pytest.skip("chromium and chromedriver are not installed")
    # The live gateway logs at DEBUG; the driver's HTTP chatter is not worth keeping.
    for noisy in ("selenium", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports land here
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--lang=zh-CN", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
