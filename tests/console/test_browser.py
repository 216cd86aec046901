"""The console in a real browser (Debian's Chromium, headless, via Selenium).

The regulator searches the log of a gateway the test started and verifies an entry in
the browser; a tampered proof does not verify; the second security officer approves a
proposal and the gateway then decides by it (and explains it so, under the new live
version); the author cannot approve their own.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import grpc
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from gateway.api import pb
from gateway.audit.search import AuditFilter
from tests.console.pages import cookie_of, explain, http, login, shot, wait_text
from tests.console.world import World
from tests.support import ADULT

pytestmark = pytest.mark.e2e  # a gateway, three consoles and a browser


def _count(world: World, flt: AuditFilter) -> int:
    return len(world.live.gw.audit_search.search(flt, page_size=1000).entries)


def _tamper_first_hash(reply: Any) -> Any:
    bad = pb.InclusionProofResponse()
    bad.CopyFrom(reply)
    first = bytearray(bad.hashes[0])
    first[0] ^= 0x01
    bad.hashes[0] = bytes(first)
    return bad


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's screenshots go."""
    return tmp_path_factory.mktemp("console-screenshots")


def test_overview_names_the_party_gateway_and_health(world: World, browser: Any,
                                                     out: Path) -> None:
    login(browser, world.regulator)
    assert browser.current_url == world.regulator.base_url + "/"  # the token left the URL
    assert browser.find_element(By.ID, "acting-party").text == "regulator"
    assert "serving" in browser.find_element(By.ID, "health").text
    assert world.live.target in browser.page_source
    shot(browser, out, "overview")


def test_search_the_log_page_and_verify_an_entry(world: World, browser: Any,
                                                 out: Path) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/audit")
    browser.find_element(By.NAME, "requester").send_keys("org_department")
    browser.find_element(By.NAME, "action").send_keys("query.subject")
    browser.find_element(By.ID, "search-button").click()
    count = wait_text(browser, "#result-count", "/")
    expected = _count(world, AuditFilter(requester="org_department", action="query.subject"))
    assert expected >= 10 and f"1–{expected} / {expected}" in count
    shot(browser, out, "audit-search")
    browser.find_element(By.CSS_SELECTOR, "#results a.seq").click()
    wait_text(browser, "h1", "#")
    browser.find_element(By.ID, "verify-button").click()
    text = wait_text(browser, "#verify-result", "Verified", "Does not verify")
    assert text.startswith("Verified"), text
    shot(browser, out, "audit-entry-verified")


def test_a_tampered_proof_does_not_verify_in_the_browser(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    backend = world.regulator.context.backend
    browser.get(world.regulator.base_url + "/audit/entry/2")
    backend.inclusion_hook = _tamper_first_hash
    try:
        browser.find_element(By.ID, "verify-button").click()
        text = wait_text(browser, "#verify-result", "Verified", "Does not verify")
    finally:
        backend.inclusion_hook = None
    assert text.startswith("Does not verify"), text


def test_search_by_person_shows_neither_id_nor_blind_index(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/audit")
    browser.find_element(By.NAME, "subject_id").send_keys(ADULT)
    Select(browser.find_element(By.NAME, "decision")).select_by_value("deny")
    browser.find_element(By.ID, "search-button").click()
    count = wait_text(browser, "#result-count", "/")
    refused = AuditFilter(requester="credit_agency", decision="deny")
    expected = _count(world, refused)
    assert expected >= 4 and f"1–{expected} / {expected}" in count
    index = world.live.gw.audit_search.search(refused, page_size=1).entries[0][1].subject_index
    assert ADULT not in browser.page_source and ADULT not in browser.current_url
    assert index and index not in browser.page_source


def test_checkpoints_and_consistency_checked_in_the_browser(world: World, browser: Any,
                                                            out: Path) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/checkpoints")
    browser.find_element(By.ID, "fetch-checkpoint").click()
    world.live.client("org_department").query_subject(ADULT, "cadre_selection")
    browser.find_element(By.ID, "fetch-checkpoint").click()
    wait_text(browser, "#checkpoint-table tbody", "✓ signed")
    shot(browser, out, "checkpoints")
    browser.find_element(By.ID, "check-consistency").click()
    # The click submits a form and loads the consistency page: wait for its button.
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.ID, "consistency-button")).pop().click()
    text = wait_text(browser, "#verify-result", "Consistent", "Does not verify")
    assert text.startswith("Consistent"), text
    shot(browser, out, "consistency")


def test_supervision_charts_with_numbers(world: World, browser: Any, out: Path) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/supervision")
    total = browser.find_element(By.ID, "supervision-total").text
    assert total.startswith("14") or total.split()[0].isdigit()
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 5
    assert "org_department" in charts[1].get_attribute("innerHTML")  # by party
    court = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#departments tbody tr")
                 if r.text.startswith("court"))
    # Lag days; one objection; no repair decided (listings are not repaired), none late.
    assert court.text.split()[-8:] == ["1", "54", "54", "1", "0", "0", "0", "0"]
    shot(browser, out, "supervision")


def test_the_author_cannot_approve_their_own_proposal(world: World, browser: Any) -> None:
    login(browser, world.author)
    browser.get(f"{world.author.base_url}/policy/{world.proposal_id}")
    browser.find_element(By.ID, "approve-button").click()
    text = wait_text(browser, "#approval-error", "cannot")
    assert "author of a change cannot approve it" in text
    assert "Traceback" not in browser.page_source


def test_second_officer_approves_and_the_gateway_decides_by_it(world: World, browser: Any,
                                                               out: Path) -> None:
    civil = world.live.client("civil_affairs")
    with pytest.raises(grpc.RpcError) as before:
        civil.query_subject(ADULT, "awards")
    assert before.value.code() == grpc.StatusCode.PERMISSION_DENIED
    login(browser, world.second)
    # Before the approval the gateway refuses; the proposal, explained, would allow.
    volunteering = {"party": "civil_affairs", "purpose": "awards", "obj": "volunteer_service"}
    decision, version = explain(browser, world.second, **volunteering)
    assert "DENY" in decision and "live" in version
    decision, version = explain(browser, world.second, **volunteering,
                                version=str(world.proposal_id))
    assert "ALLOW" in decision and f"#{world.proposal_id}" in version and "pending" in version
    assert "volunteer_service, read, awards, allow" in browser.find_element(
        By.ID, "explain-candidates").text
    browser.get(world.second.base_url + "/policy")
    browser.find_element(By.CSS_SELECTOR,
                         f'a.pending-link[href="/policy/{world.proposal_id}"]').click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#diff-table tbody tr")
    assert any("civil_affairs" in r.text and "awards" in r.text and "volunteer_service" in r.text
               for r in rows)
    assert browser.find_element(By.ID, "tests-summary").text.startswith("PASS: ")
    shot(browser, out, "policy-proposal")
    browser.find_element(By.NAME, "comment").send_keys("checked with the awards office")
    browser.find_element(By.ID, "approve-button").click()
    wait_text(browser, "#approval-done", "Approved")
    assert "active" in browser.find_element(By.ID, "version-status").text
    reply = civil.query_subject(ADULT, "awards")
    assert [r.category for r in reply.records] == ["volunteer_service"]
    # The history names the live version, who proposed it and who approved it, and why.
    browser.get(world.second.base_url + "/policy")
    live = browser.find_element(By.ID, "live-version").text
    assert f"#{world.proposal_id}" in live and "security_officer_b" in live
    assert "checked with the awards office" in browser.find_element(By.ID, "versions").text
    shot(browser, out, "policy-versions")
    # Explain now decides under the new live version: the one just approved.
    decision, version = explain(browser, world.second, **volunteering)
    assert "ALLOW" in decision
    assert f"#{world.proposal_id}" in version and "live" in version
    assert world.live.gw.state.version[:16] in version


def test_second_officer_rejects_with_a_comment(world: World, browser: Any) -> None:
    login(browser, world.second)
    browser.get(f"{world.second.base_url}/policy/{world.second_proposal_id}")
    comment = browser.find_element(By.NAME, "comment")
    comment.send_keys(f"see {ADULT}")  # a person's ID has no place in a comment
    browser.find_element(By.ID, "reject-button").click()
    text = wait_text(browser, "#approval-error", "not valid")
    assert ADULT not in text and "Traceback" not in browser.page_source
    comment = browser.find_element(By.NAME, "comment")
    comment.clear()
    comment.send_keys("donations are not an awards criterion")
    browser.find_element(By.ID, "reject-button").click()
    wait_text(browser, "#approval-done", "Rejected")
    assert "rejected" in browser.find_element(By.ID, "version-status").text
    assert browser.find_element(By.ID, "version-comment").text == \
        "donations are not an awards criterion"


def test_explain_form(world: World, browser: Any, out: Path) -> None:
    login(browser, world.second)
    browser.get(world.second.base_url + "/explain")
    for name, value in (("party", "credit_agency"), ("purpose", "authorised_query"),
                        ("object", "identity.address")):
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.ID, "explain-button").click()
    text = wait_text(browser, "#explain-decision", "ALLOW", "DENY")
    assert "DENY" in text  # no consent presented
    assert "live" in browser.find_element(By.ID, "explain-version").text
    assert browser.find_element(By.ID, "explain-release").text == "withheld"
    shot(browser, out, "explain")


def test_every_view_exports_as_csv(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    cookie = {"Cookie": cookie_of(browser, world.regulator)}
    status, body = http(world.regulator, "/supervision.csv?view=rows", headers=cookie)
    assert status == 200 and body.startswith("\ufeffday,party,purpose,queries,refused")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))[1:]
    agency = [r for r in rows if r[1] == "credit_agency"]
    assert sum(int(r[4]) for r in agency) >= 4 and sum(int(r[5]) for r in agency) >= 2
    for view in ("party", "purpose", "day", "refusals", "consent", "departments"):
        status, body = http(world.regulator, f"/supervision.csv?view={view}", headers=cookie)
        assert status == 200 and body.count("\n") >= 1, view
    browser.get(world.regulator.base_url + "/audit")
    browser.find_element(By.NAME, "purpose").send_keys("authorised_query")
    browser.find_element(By.ID, "search-button").click()
    wait_text(browser, "#result-count", "/")
    qid = browser.current_url.split("q=", 1)[1]
    status, body = http(world.regulator, f"/audit.csv?q={qid}", headers=cookie)
    lines = body.lstrip("\ufeff").splitlines()
    assert status == 200 and lines[0].startswith("seq,time,requester")
    assert len(lines) > 4 and all("authorised_query" in line for line in lines[1:])
    assert ADULT not in body and "subject" not in lines[0]


def _tamper_consistency(reply: Any) -> Any:
    bad = pb.ConsistencyProofResponse()
    bad.CopyFrom(reply)
    last = bytearray(bad.hashes[-1])
    last[-1] ^= 0x80
    bad.hashes[-1] = bytes(last)
    return bad


def test_a_tampered_consistency_proof_does_not_verify(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    backend = world.regulator.context.backend
    backend.checkpoint(fresh=True)
    world.live.client("org_department").query_subject(ADULT, "cadre_selection")
    for _ in range(2):
        cp = backend.checkpoint(fresh=True)
        world.regulator.context.remember(cp.text, cp.size, cp.root_hash)
    history = world.regulator.context.history()
    backend.consistency_hook = _tamper_consistency
    try:
        browser.get(f"{world.regulator.base_url}/checkpoints/consistency"
                    f"?old=0&new={len(history) - 1}")
        wait_text(browser, "main", "Check consistency")
        browser.find_element(By.ID, "consistency-button").click()
        text = wait_text(browser, "#verify-result", "Consistent", "Does not verify")
    finally:
        backend.consistency_hook = None
    assert text.startswith("Does not verify"), text


def test_the_log_search_works_from_the_keyboard(world: World, browser: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the skip link comes first
    assert browser.switch_to.active_element.get_attribute("class") == "skip"
    browser.get(world.regulator.base_url + "/audit")
    field = browser.find_element(By.NAME, "requester")
    field.click()
    field.send_keys("credit_agency")
    field.send_keys(Keys.TAB, Keys.TAB, "query.subject", Keys.ENTER)  # purpose, action
    count = wait_text(browser, "#result-count", "/")
    expected = _count(world, AuditFilter(requester="credit_agency", action="query.subject"))
    assert f"/ {expected}" in count
    link = browser.find_element(By.CSS_SELECTOR, "#results a.seq")
    link.send_keys(Keys.ENTER)
    wait_text(browser, "h1", "#")
    browser.find_element(By.ID, "verify-button").send_keys(Keys.ENTER)
    assert wait_text(browser, "#verify-result", "Verified", "Does not verify").startswith(
        "Verified")


def test_a_page_showing_other_values_than_the_logged_bytes_does_not_verify(
        world: World, browser: Any) -> None:
    login(browser, world.regulator)
    browser.get(world.regulator.base_url + "/audit/entry/3")
    browser.execute_script(
        "const box = document.getElementById('verify');"
        "const shown = JSON.parse(box.dataset.shown);"
        "shown.decision = shown.decision === 'allow' ? 'deny' : 'allow';"
        "box.dataset.shown = JSON.stringify(shown);")
    browser.find_element(By.ID, "verify-button").click()
    text = wait_text(browser, "#verify-result", "Verified", "Does not verify")
    assert text.startswith("Does not verify") and "decision" in text


def test_policy_views_export_as_csv(world: World, browser: Any) -> None:
    login(browser, world.second)
    cookie = {"Cookie": cookie_of(browser, world.second)}
    status, body = http(world.second, "/policy.csv", headers=cookie)
    lines = body.lstrip("\ufeff").splitlines()
    assert status == 200 and lines[0].startswith("id,status,version,bundle_hash,author")
    assert len(lines) >= 3
    status, body = http(world.second, f"/policy/{world.proposal_id}/diff.csv", headers=cookie)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert status == 200 and rows[0][:4] == ["change", "party", "purpose", "field"]
    assert ["gained", "civil_affairs", "awards", "volunteer_service"] in [r[:4] for r in rows]
