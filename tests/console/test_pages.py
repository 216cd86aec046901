"""The rest of the issue's sentences, page by page, in the browser.

The log search by time range and its pages; an entry page with every logged member but
the blind index; the supervision figures against the gateway's own log; checkpoints as
CSV; a console can do what its party may and nothing more; an unreachable gateway and a
proposal that failed its decision tests are said in words; the explain form and a
rejection from the keyboard; every main page readable at 1280x800 and loading nothing
from another origin.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import socket
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from gateway.api import pb
from gateway.audit.search import AuditFilter
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import local_date
from gateway.console.runner import bind_loopback, make_context, start_background
from gateway.policy.rollout import read_bundle
from gateway.supervision.figures import QUERY_ACTIONS, supervision_figures
from tests.console.pages import cookie_of, explain, http, login, shot, wait_text
from tests.console.world import World
from tests.live_gateway import start_live, stop_live
from tests.support import ADULT, KEYS, POLICIES

pytestmark = pytest.mark.e2e  # a gateway, consoles and a browser


def _entries(world: World, flt: AuditFilter) -> list[tuple[int, Any]]:
    """Every matching entry, straight from the gateway's own search (all pages)."""
    found: list[tuple[int, Any]] = []
    token = ""
    while True:
        page = world.live.gw.audit_search.search(flt, page_token=token, page_size=1000)
        found.extend(page.entries)
        token = page.next_token
        if not token:
            return found


def _search(browser: Any, world: World, **fields: str) -> str:
    """Fill the log search form (datetime-local fields set as values) and run it."""
    browser.get(world.regulator.base_url + "/audit")
    for name, value in fields.items():
        element = browser.find_element(By.NAME, name)
        if element.get_attribute("type") == "datetime-local":
            browser.execute_script("arguments[0].value = arguments[1];", element, value)
        else:
            element.send_keys(value)
    browser.find_element(By.ID, "search-button").click()
    return wait_text(browser, "#result-count", "/", "0")


def _propose(world: World, tmp: Path, *, add: str = "", drop: str = "") -> Any:
    """A proposal: the live bundle with a rule added or dropped, as security_officer."""
    files = read_bundle(world.live.gw.state.directory)
    if drop:
        policy = files["policy.csv"].decode()
        assert drop in policy
        files["policy.csv"] = policy.replace(drop, "").encode()
    bundle = tmp / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    for name, content in files.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(content)
    with (bundle / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write(add)
    return world.live.client("security_officer").propose_policy(read_bundle(bundle))


# -- the regulator's log ---------------------------------------------------------------

def test_search_by_time_range_in_the_citys_clock(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    # City days 25 and 26 November: 16:00 UTC the day before to 15:59 UTC the last day.
    count = _search(browser, world, requester="org_department",
                    time_from="2026-11-25T00:00", time_to="2026-11-26T23:59")
    expected = _entries(world, AuditFilter(requester="org_department",
                                           time_from="2026-11-24T16:00:00Z",
                                           time_to="2026-11-26T15:59:00Z"))
    assert len(expected) == 5  # two queries on the 25th, three on the 26th (the seed)
    assert "1–5 / 5" in count
    shown = [r.text for r in browser.find_elements(
        By.CSS_SELECTOR, "#results tbody td.nowrap")]
    assert shown and all(t.startswith(("2026-11-25", "2026-11-26")) for t in shown)
    # The form keeps what was asked, so the regulator sees the range that was searched.
    assert browser.find_element(By.NAME, "time_from").get_attribute("value") == \
        "2026-11-25T00:00"


def test_results_come_in_pages_with_totals(world: World, browser: Any) -> None:
    org = world.live.client("org_department")
    while len(_entries(world, AuditFilter())) <= 60:  # more than one page of 50
        with contextlib.suppress(grpc.RpcError):  # a quota may refuse: still an entry
            org.query_subject(ADULT, "cadre_selection")
    login(browser, world.regulator)
    # The log as the search finds it (the search's own entry is written after it).
    total = len(_entries(world, AuditFilter()))
    count = _search(browser, world)
    assert f"1–50 / {total}" in count
    seqs = [int(a.text.lstrip("#")) for a in
            browser.find_elements(By.CSS_SELECTOR, "#results a.seq")]
    assert len(seqs) == 50 and seqs == sorted(seqs)
    browser.find_element(By.ID, "next-page").click()
    count = wait_text(browser, "#result-count", "51–")
    last = min(100, total)
    assert f"51–{last} / {total}" in count
    second = [int(a.text.lstrip("#")) for a in
              browser.find_elements(By.CSS_SELECTOR, "#results a.seq")]
    assert len(second) == last - 50 and second[0] > seqs[-1]
    browser.find_element(By.CSS_SELECTOR, 'a[rel="prev"]').click()
    assert f"1–50 / {total}" in wait_text(browser, "#result-count", "1–50")


def test_a_search_past_what_the_console_gathers_says_so_and_is_not_exported_in_part(
        world: World, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.console import views_audit

    monkeypatch.setattr(views_audit, "SEARCH_LIMIT", 3)
    login(browser, world.regulator)
    assert "1–3 / 3+" in _search(browser, world)
    assert "narrow the search" in browser.find_element(By.TAG_NAME, "main").text
    qid = browser.current_url.split("q=")[1]
    status, body = http(world.regulator, f"/audit.csv?q={qid}",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    assert status == 502 and "More than 3 entries match" in body and "seq,time" not in body
    monkeypatch.setattr(views_audit, "SEARCH_LIMIT", 5000)
    _search(browser, world, action="query.subject", requester="org_department")
    qid = browser.current_url.split("q=")[1]
    status, body = http(world.regulator, f"/audit.csv?q={qid}",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    assert status == 200 and body.lstrip("\ufeff").startswith("seq,time")


def test_an_entry_page_shows_every_logged_member_but_the_blind_index(
        world: World, browser: Any) -> None:
    # An allowed consented query: categories, fields, consent, rules, request id and a count.
    seq, entry = next((s, e) for s, e in _entries(world, AuditFilter(
        requester="credit_agency", decision="allow")) if e.consent_id)
    login(browser, world.regulator)
    browser.get(f"{world.regulator.base_url}/audit/entry/{seq}")
    logged = json.loads(entry.canonical_bytes())
    assert logged["record_count"] >= 1 and logged["request_id"]
    members = {dd.get_attribute("data-member"): dd.get_attribute("textContent") for dd in
               browser.find_elements(By.CSS_SELECTOR, "dd[data-member]")}
    assert set(members) == set(logged), "every member of the logged bytes has its line"
    for name, value in logged.items():
        shown = members[name]
        if name == "subject_index":
            assert value and value not in browser.page_source and "not shown" in shown
        elif name == "time":
            assert value.replace(".000000Z", "Z") in shown
        elif name == "policy_rule":
            assert all(rule.split(" ", 1)[0] in shown for rule in value.split("; "))
        elif isinstance(value, list):
            assert all(v in shown for v in value), name
        else:
            assert str(value) in shown, name
    browser.find_element(By.ID, "verify-button").click()
    text = wait_text(browser, "#verify-result", "Verified", "Does not verify")
    assert text.startswith("Verified"), text
    steps = browser.find_element(By.ID, "verify-steps").text
    assert "(15 fields)" in steps  # each shown value was checked against the bytes


def test_checkpoints_export_as_csv(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/checkpoints")
    browser.find_element(By.ID, "fetch-checkpoint").click()
    wait_text(browser, "#checkpoint-table tbody", "✓ signed")
    status, body = http(world.regulator, "/checkpoints.csv",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert status == 200 and rows[0] == ["tree_size", "time", "root_hash", "origin",
                                         "signed_note"]
    history = world.regulator.context.history()
    assert len(rows) == len(history) + 1
    assert [int(r[0]) for r in rows[1:]] == [c["size"] for c in reversed(history)]
    assert all(r[4].startswith(r[3] + "\n" + r[0] + "\n" + r[2] + "\n") for r in rows[1:])


# -- supervision -------------------------------------------------------------------------

def _expected_figures(world: World, start: date, end: date) -> dict[str, Any]:
    """Per party and purpose: [queries, refused, consent uses, refusals by reason]."""
    groups: dict[str, Any] = {"party": {}, "purpose": {}}
    for action in QUERY_ACTIONS:
        for _, e in _entries(world, AuditFilter(action=action)):
            if not start <= local_date(e.time) <= end:
                continue
            for kind, key in (("party", e.requester), ("purpose", e.purpose or "-")):
                row = groups[kind].setdefault(key, [0, 0, 0, Counter()])
                row[0] += 1
                if e.decision == "deny":
                    row[1] += 1
                    row[3][e.reason or "unspecified"] += 1
                elif e.consent_id:
                    row[2] += 1
    return groups


def _table(browser: Any, table_id: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for tr in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"):
        cells = tr.find_elements(By.TAG_NAME, "td")
        key = cells[0].text.split()[0]
        reasons: Counter[str] = Counter()
        for part in cells[3].text.split(", "):
            if part != "—":
                reason, n = part.rsplit(" ", 1)
                reasons[reason] = int(n)
        out[key] = [int(cells[1].text), int(cells[2].text), int(cells[4].text), reasons]
    return out


def test_supervision_figures_are_the_gateways_count(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    today = local_date(world.clock.now())
    start = today - timedelta(days=29)
    browser.get(world.regulator.base_url + "/supervision")
    expected = _expected_figures(world, start, today)
    assert _table(browser, "by-party") == expected["party"]
    assert _table(browser, "by-purpose") == expected["purpose"]
    assert expected["party"]["credit_agency"][3]["consent_missing"] >= 4
    total = sum(v[0] for v in expected["party"].values())
    assert browser.find_element(By.ID, "supervision-total").text.split()[0] == str(total)
    # The numbers are written beside the bars too (queries, allowed and refused).
    agency = expected["party"]["credit_agency"]
    chart = browser.find_elements(By.CSS_SELECTOR, "svg.chart")[1].get_attribute("innerHTML")
    assert f"{agency[0]} ({agency[0] - agency[1]} allowed / {agency[1]} refused)" in chart
    days = {tr.find_elements(By.TAG_NAME, "td")[0].text: tr for tr in
            browser.find_elements(By.CSS_SELECTOR, "#by-day tbody tr")}
    assert "2026-11-25" in days and "consent_missing 1" in days["2026-11-25"].text
    # Refusals by reason per day, party and purpose, as CSV.
    status, body = http(world.regulator, "/supervision.csv?view=reasons",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert status == 200 and rows[0] == ["day", "party", "purpose", "reason", "refused"]
    assert sum(int(r[4]) for r in rows[1:] if r[1] == "credit_agency"
               and r[3] == "consent_missing") == agency[3]["consent_missing"]


def test_mandatory_checks_are_the_gateways_count(world: World, browser: Any) -> None:
    """应查必查: each department's checks for a purpose that requires one, per month,
    beside the decisions it declared, as the gateway counts them (and as CSV)."""
    org = world.live.client("org_department")
    org.query_subject(ADULT, "cadre_selection")
    month = local_date(world.clock.now()).strftime("%Y-%m")
    org.declare_decisions([(month, "cadre_selection", 9)])
    report = supervision_figures(world.live.gw.store, world.live.gw.audit_search,
                                 today=local_date(world.clock.now()),
                                 catalogue=world.live.gw.state.catalogue)
    expected = {(m.department, m.purpose, m.month): m for m in report.mandatory_checks}
    assert ("org_department", "cadre_selection", month) in expected
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/supervision")
    shown = {}
    for tr in browser.find_elements(By.CSS_SELECTOR, "#mandatory-checks tbody tr"):
        cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        shown[(cells[0].split()[0], cells[1].split()[0], cells[2])] = cells[3:]
    assert set(shown) == set(expected)
    for key, m in expected.items():
        assert shown[key] == [str(m.checks), str(m.people_checked),
                              "-" if m.declared is None else str(m.declared),
                              "-" if m.without_check is None else str(m.without_check)]
    cadre = expected[("org_department", "cadre_selection", month)]
    assert cadre.declared == 9 and cadre.without_check == 9 - cadre.people_checked
    status, body = http(world.regulator, "/supervision.csv?view=mandatory",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert status == 200 and rows[0][:3] == ["department", "name_zh", "purpose"]
    assert len(rows) == len(expected) + 1


def test_supervision_never_counts_part_of_a_period(world: World, browser: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.console import views_supervision

    # The console gathers at most COLLECT_LIMIT entries of an action; past it, no figures.
    monkeypatch.setattr(views_supervision, "COLLECT_LIMIT", 3)
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/supervision")
    text = wait_text(browser, "main", "Gateway error")
    assert "More than 3 query.subject entries" in text and "shorter period" in text
    status, body = http(world.regulator, "/supervision.csv?view=rows",
                        headers={"Cookie": cookie_of(browser, world.regulator)})
    assert status == 502 and "shorter period" in body and "day,party" not in body
    # One seeded day holds two queries: its figures are whole, so they are shown.
    browser.get(world.regulator.base_url + "/supervision?from=2026-11-24&to=2026-11-24")
    assert browser.find_element(By.ID, "supervision-total").text.split()[0] == "2"


# -- a client, not a new door ------------------------------------------------------------

def test_each_console_can_do_what_its_party_may_and_nothing_more(
        world: World, browser: Any) -> None:
    login(browser, world.regulator)
    for path in ("/policy", f"/policy/{world.proposal_id}", "/policy.csv"):
        browser.get(world.regulator.base_url + path)
        text = wait_text(browser, "main", "Gateway error")
        assert "your party may not do this" in text and "PERMISSION_DENIED" in text, path
        assert "Traceback" not in browser.page_source
    login(browser, world.second)
    browser.get(world.second.base_url + "/audit")  # the form itself asks the gateway nothing
    browser.find_element(By.NAME, "requester").send_keys("credit_agency")
    browser.find_element(By.ID, "search-button").click()
    text = wait_text(browser, "main", "Gateway error")
    assert "your party may not do this" in text
    for path in ("/supervision", "/audit/entry/1"):
        browser.get(world.second.base_url + path)
        assert "your party may not do this" in wait_text(browser, "main", "Gateway error")
    status, body = http(world.second, "/audit/entry/1/proof.json",
                        headers={"Cookie": cookie_of(browser, world.second)})
    assert status == 502 and "may not do this" in json.loads(body)["error"]


def test_an_unreachable_gateway_is_said_in_words(world: World, browser: Any,
                                                 tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    sock = bind_loopback(0)
    client = CredgateClient(dead, PartyCredentials.from_keys_dir(KEYS, "regulator"))
    console = start_background(make_context(
        client, target=dead, log_key=KEYS / "gateway.log.pub", state_dir=tmp_path,
        port=sock.getsockname()[1], policies_dir=POLICIES, clock=world.clock), sock)
    try:
        browser.get(console.gate.login_url)
        assert "not serving" in browser.find_element(By.ID, "health").text
        assert "cannot be reached" in browser.find_element(By.TAG_NAME, "main").text
        browser.get(console.base_url + "/audit")
        browser.find_element(By.ID, "search-button").click()
        text = wait_text(browser, "main", "Gateway error")
        assert "cannot be reached or is not serving" in text and "无法连接网关" in text
        assert "UNAVAILABLE" in text and "Traceback" not in browser.page_source
    finally:
        console.stop()


# -- the security officer ------------------------------------------------------------------

def test_a_proposal_that_failed_its_decision_tests_says_which(
        world: World, browser: Any, tmp_path: Path) -> None:
    # Valid, but agencies would read a home address in clear: three decision tests fail.
    version = _propose(world, tmp_path,
                       drop="p, credit_agency, address, read, authorised_query, deny,\n")
    assert version.status == "rejected"
    login(browser, world.second)
    browser.get(f"{world.second.base_url}/policy/{version.id}")
    assert "failed" in browser.find_element(By.ID, "tests-state").text
    words = browser.find_element(By.ID, "tests-words").text
    assert words.startswith("decision tests failed (PASS: ")
    assert "address is not released in clear even with consent" in words
    assert not browser.find_elements(By.ID, "approve-button")  # nothing left to approve


def test_a_proposal_made_before_another_went_live_is_out_of_date(
        world: World, browser: Any, tmp_path: Path) -> None:
    """On a gateway of its own: the shared one's policy must not move under other tests."""
    live = start_live(tmp_path, world.clock, policy_two_person=True)
    console = None
    try:
        officer = live.client("security_officer")
        files = read_bundle(POLICIES)
        stale = officer.propose_policy({**files, "policy.csv": files["policy.csv"] +
                                        b"p, hr_bureau, identity.mobile, read_masked, awards, "
                                        b"allow,\n"})
        newer = officer.propose_policy({**files, "policy.csv": files["policy.csv"] +
                                        b"p, hr_bureau, identity.gender, read_masked, awards, "
                                        b"allow,\n"})
        assert (stale.status, newer.status) == ("pending", "pending"), newer.reason
        live.client("security_officer_b").policy_admin.ApprovePolicy(
            pb.ApprovePolicyRequest(id=newer.id, comment="checked with the awards office"),
            timeout=30)
        sock = bind_loopback(0)
        console = start_background(make_context(
            live.client("security_officer_b"), target=live.target,
            log_key=KEYS / "gateway.log.pub", state_dir=tmp_path / "state",
            port=sock.getsockname()[1], policies_dir=POLICIES, clock=world.clock), sock)
        browser.get(console.gate.login_url)
        browser.get(console.base_url + "/policy")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width  # the marks fit 1280x800 too
        pending = browser.find_element(By.CSS_SELECTOR, ".pending-out-of-date")
        assert f"#{stale.id}" in pending.text and "out of date" in pending.text
        rows = {r.find_element(By.TAG_NAME, "a").text: r.text for r in
                browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")}
        assert "out of date" in rows[f"#{stale.id}"] and "已过时" in rows[f"#{stale.id}"]
        assert "out of date" not in rows[f"#{newer.id}"]
        browser.get(f"{console.base_url}/policy/{stale.id}")
        assert "out of date" in browser.find_element(By.ID, "version-out-of-date").text
        note = browser.find_element(By.ID, "out-of-date-note").text
        assert "another policy went live since this proposal" in note
        assert not browser.find_elements(By.ID, "approve-button")  # nothing to approve
        assert browser.find_elements(By.ID, "reject-button")  # it may still be turned down
        shot(browser, tmp_path / "shots", "policy-out-of-date")
        # The approval the page does not offer is refused by the gateway all the same.
        cookie = cookie_of(browser, console)
        session = console.gate.session(cookie.split("=", 1)[1])
        assert session is not None
        status, text = http(console, f"/policy/{stale.id}/approve", method="POST",
                            headers={"Cookie": cookie, "Origin": console.base_url,
                                     "Content-Type": "application/x-www-form-urlencoded"},
                            body=f"csrf_token={session.csrf}&comment=".encode())
        assert status == 409 and "another policy went live since this proposal" in text
        assert [v.status for v in live.gw.rollout.versions()][:2] == ["active", "pending"]
        # It can still be explained, to see what it would do.
        mobile = {"party": "hr_bureau", "purpose": "awards", "obj": "identity.mobile"}
        _, version = explain(browser, console, **mobile, version=str(stale.id))
        assert f"#{stale.id}" in version and "pending" in version
        assert browser.find_element(By.ID, "explain-release").text == "masked"
        _, version = explain(browser, console, **mobile)
        assert f"#{newer.id}" in version and "live" in version
        assert browser.find_element(By.ID, "explain-release").text == "withheld"
    finally:
        if console is not None:
            console.stop()
        stop_live(live)


def test_explain_of_an_unknown_code_is_refused_in_words(world: World, browser: Any) -> None:
    login(browser, world.second)
    browser.get(world.second.base_url + "/explain")
    for name, value in (("party", f"credit_agncy {ADULT}"), ("purpose", "authorised_query"),
                        ("object", "identity.address")):
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.ID, "explain-button").click()
    text = wait_text(browser, "#explain-error", "not valid")
    assert "unknown party code" in text and "网关认为输入无效" in text
    assert ADULT not in text and "Traceback" not in browser.page_source


def test_explain_from_the_keyboard_with_and_without_consent(world: World,
                                                            browser: Any) -> None:
    login(browser, world.second)
    browser.get(world.second.base_url + "/explain")
    party = browser.find_element(By.NAME, "party")
    party.click()
    # party, purpose, object, action (kept), consent (left off), age: Enter submits.
    party.send_keys("credit_agency", Keys.TAB, "authorised_query", Keys.TAB,
                    "dishonest_debtor", Keys.TAB, Keys.TAB, Keys.TAB, Keys.ENTER)
    assert "DENY" in wait_text(browser, "#explain-decision", "ALLOW", "DENY")
    assert browser.switch_to.active_element.get_attribute("name") == "age"
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("name") == "consent"
    browser.switch_to.active_element.send_keys(Keys.SPACE)  # consent presented
    browser.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
    assert "ALLOW" in wait_text(browser, "#explain-decision", "ALLOW")
    assert "consent=on" in browser.current_url


def test_reject_from_the_keyboard(world: World, browser: Any, tmp_path: Path) -> None:
    version = _propose(world, tmp_path, add="p, civil_affairs, donation, read, awards, allow,\n")
    assert version.status == "pending", version.reason
    login(browser, world.second)
    browser.get(f"{world.second.base_url}/policy/{version.id}")
    assert "donation" in browser.find_element(By.ID, "diff-table").text
    comment = browser.find_element(By.NAME, "comment")
    comment.click()
    # comment, Tab to Approve, Tab to Reject, Enter.
    comment.send_keys("donations are no awards criterion", Keys.TAB, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "reject-button"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_text(browser, "#approval-done", "Rejected")
    assert browser.find_element(By.ID, "version-comment").text == \
        "donations are no awards criterion"
    assert "rejected" in browser.find_element(By.ID, "version-status").text


# -- every page ----------------------------------------------------------------------------

def test_every_main_page_fits_1280_by_800_and_loads_nothing_from_elsewhere(
        world: World, browser: Any) -> None:
    backend = world.regulator.context.backend
    backend.checkpoint(fresh=True)
    for _ in range(2):  # two checkpoints to compare
        cp = backend.checkpoint(fresh=True)
        world.regulator.context.remember(cp.text, cp.size, cp.root_hash)
    login(browser, world.regulator)
    login(browser, world.second)
    _search(browser, world, requester="credit_agency")  # the log page with its results
    results = browser.current_url
    pages = [(world.regulator, results)] + [(world.regulator, world.regulator.base_url + p)
                                            for p in ("/", "/audit/entry/6", "/checkpoints",
                                                      "/checkpoints/consistency?old=0&new=1",
                                                      "/supervision")]
    pages += [(world.second, world.second.base_url + p) for p in (
        "/policy", f"/policy/{world.proposal_id}",
        "/explain?party=credit_agency&purpose=authorised_query&object=identity.address")]
    browser.set_window_size(1280, 800)
    for console, url in pages:
        browser.get(url)
        assert browser.find_elements(By.TAG_NAME, "h1"), url
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (url, width)  # no sideways scrolling
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(u.startswith(console.base_url + "/") for u in loaded), loaded
