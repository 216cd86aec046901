"""Who may use the console: no token, a foreign Origin or a missing CSRF token is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.console.pages import cookie_of, http, login
from tests.console.world import World

pytestmark = pytest.mark.e2e  # a gateway, three consoles and a browser


def test_without_the_token_or_the_session_nothing_is_served(world: World) -> None:
    console = world.regulator
    for path in ("/", "/audit", "/supervision", "/checkpoints", "/audit/entry/1",
                 "/audit/entry/1/proof.json", "/supervision.csv"):
        status, body = http(console, path)
        assert status == 401, path
        assert "credgate console" in body
    status, _ = http(console, "/?token=" + "x" * 43)
    assert status == 403
    status, _ = http(console, "/", headers={"Cookie": f"{console.gate.cookie}=forged"})
    assert status == 401


def test_the_token_works_once(world: World, browser: Any) -> None:
    login(browser, world.regulator)  # spends it
    status, body = http(world.regulator, "/?token=" + world.regulator.gate.token)
    assert status == 403 and "already used" in body


def test_a_foreign_origin_or_host_is_refused(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    cookie = cookie_of(browser, world.regulator)
    status, _ = http(world.regulator, "/", headers={"Cookie": cookie})
    assert status == 200
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        status, _ = http(world.regulator, "/", headers={"Cookie": cookie, "Origin": origin})
        assert status == 403, origin
    status, _ = http(world.regulator, "/", headers={"Cookie": cookie,
                                                    "Host": "rebound.example:80"})
    assert status == 400


def test_a_change_needs_the_origin_and_the_csrf_token(world: World, browser: Any) -> None:
    login(browser, world.second)
    console = world.second
    cookie = cookie_of(browser, console)
    csrf = console.gate.session(cookie.split("=", 1)[1])
    assert csrf is not None
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    own = {"Origin": console.base_url}
    path = f"/policy/{world.proposal_id}/approve"
    # No CSRF token, a wrong one, no Origin, a foreign Origin: all refused before any call.
    cases = [({**form, **own}, b"comment=x"),
             ({**form, **own}, b"csrf_token=wrong&comment=x"),
             (form, f"csrf_token={csrf.csrf}".encode()),
             ({**form, "Origin": "http://evil.example"}, f"csrf_token={csrf.csrf}".encode())]
    for headers, body in cases:
        status, text = http(console, path, method="POST", headers=headers, body=body)
        assert status == 403, (headers, body)
        assert "Refused" in text
    status, _ = http(console, "/checkpoints/fetch", method="POST", headers={**form, **own},
                     body=b"")
    assert status == 403


def test_every_page_has_a_strict_csp_and_no_inline_script(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    login(browser, world.second)
    for console, paths in ((world.regulator, ("/", "/audit", "/checkpoints", "/supervision",
                                              "/audit/entry/1")),
                           (world.second, ("/policy", f"/policy/{world.proposal_id}",
                                           "/explain"))):
        browser.get(console.base_url + paths[0])
        cookie = cookie_of(browser, console)
        for path in paths:
            status, body = http(console, path, headers={"Cookie": cookie})
            assert status == 200, path
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
            assert not re.search(r"\son[a-z]+\s*=", body), path
            assert "javascript:" not in body
    import urllib.request

    request = urllib.request.Request(world.regulator.base_url + "/",
                                     headers={"Cookie": cookie_of(browser, world.regulator)})
    with urllib.request.urlopen(request, timeout=10) as reply:
        csp = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_origin_or_host_lookalike_gets_through(world: World, browser: Any,
                                                  data: st.DataObject) -> None:
    login(browser, world.regulator)
    console = world.regulator
    port = console.gate.port
    cookie = cookie_of(browser, console)
    lookalike = data.draw(st.sampled_from([
        f"http://127.0.0.1:{port}.evil.example", f"http://127.0.0.1:{port}@evil.example",
        f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port}/", f"HTTP://127.0.0.1:{port}",
        f"http://127.0.0.2:{port}", f"http://[::1]:{port}", f"http://0.0.0.0:{port}",
        f"http://localhost.:{port}", f"http://127.0.0.1:{port + 1}", "null", "",
    ]) | st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40))
    status, _ = http(console, "/", headers={"Cookie": cookie, "Origin": lookalike})
    assert status == 403
    host = data.draw(st.sampled_from([
        f"127.0.0.1:{port}.evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}",
        "127.0.0.1", f"LOCALHOST:{port}", f"[::1]:{port}", f"127.0.0.1:{port}:1",
    ]))
    status, _ = http(console, "/", headers={"Cookie": cookie, "Host": host})
    assert status == 400


def test_the_pages_run_under_the_csp_without_a_violation(world: World, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from tests.console.pages import wait_text

    login(browser, world.regulator)
    login(browser, world.second)
    browser.get_log("browser")  # start clean
    for console, path in ((world.regulator, "/"), (world.regulator, "/audit"),
                          (world.regulator, "/checkpoints"), (world.regulator, "/supervision"),
                          (world.second, "/policy"), (world.second, "/explain")):
        browser.get(console.base_url + path)
    # htmx swaps the explain result in place: it must work without eval or inline style.
    for name, value in (("party", "org_department"), ("purpose", "cadre_selection"),
                        ("object", "identity.address")):
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.ID, "explain-button").click()
    wait_text(browser, "#explain-decision", "ALLOW", "DENY")
    assert "party=org_department" in browser.current_url  # pushed by htmx
    problems = [e["message"] for e in browser.get_log("browser")
                if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"]
    assert problems == []


def _routes(world: World) -> list[tuple[str, frozenset[str]]]:
    """Every route of the console app (path parameters filled in), with its methods."""
    from starlette.routing import Route

    app = world.regulator.server.config.app
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            found.append((path, frozenset(route.methods or ())))
    assert len(found) >= 15
    return found


def test_every_route_needs_the_session(world: World) -> None:
    for path, methods in _routes(world):
        method = "GET" if "GET" in methods else "POST"
        headers = {"Origin": world.regulator.base_url} if method == "POST" else {}
        status, _ = http(world.regulator, path, method=method, headers=headers,
                         body=b"" if method == "POST" else None)
        assert status == 401, path


def test_every_change_needs_the_origin_and_the_csrf_token(world: World, browser: Any) -> None:
    login(browser, world.regulator)
    console = world.regulator
    cookie = cookie_of(browser, console)
    session = console.gate.session(cookie.split("=", 1)[1])
    assert session is not None
    changes = [path for path, methods in _routes(world) if "POST" in methods]
    assert {"/audit/search", "/checkpoints/fetch", "/policy/1/approve",
            "/policy/1/reject"} <= set(changes)
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    own = {"Origin": console.base_url}
    good = f"csrf_token={session.csrf}&comment=x".encode()
    for path in changes:
        for headers, body in (({**form, **own}, b"comment=x"),
                              ({**form, **own}, b"csrf_token=&comment=x"),
                              ({**form, **own, "X-CSRF-Token": "wrong"}, good),
                              (form, good),
                              ({**form, "Origin": "http://evil.example"}, good),
                              ({**form, "Origin": "null"}, good)):
            status, text = http(console, path, method="POST", headers=headers, body=body)
            assert status == 403 and "Refused" in text, (path, headers, body)
    # Changes never travel by GET: the state-changing routes answer GET with 405.
    for path in changes:
        status, _ = http(console, path, headers={"Cookie": cookie})
        assert status == 405, path


def test_assets_are_vendored_pinned_and_licensed() -> None:
    import hashlib
    from pathlib import Path

    import gateway.console

    here = Path(gateway.console.__file__).parent
    vendor = here / "static" / "vendor"
    readme = (vendor / "README.md").read_text(encoding="utf-8")
    pinned = re.search(r"SHA-256 of htmx\.min\.js: `([0-9a-f]{64})`", readme)
    assert pinned is not None
    assert hashlib.sha256((vendor / "htmx.min.js").read_bytes()).hexdigest() == pinned[1]
    licence = (vendor / "htmx.LICENSE").read_text(encoding="utf-8")
    assert "Zero-Clause BSD" in licence or "Permission to use" in licence
    # Nothing is fetched from elsewhere: no template or script names another origin.
    for path in [*here.glob("templates/*.html"), here / "static" / "verify.js"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", text), path
        assert not re.search(r"""fetch\(\s*["'`](https?:)?//""", text), path
    packaged = here.parent.parent / "pyproject.toml"
    if packaged.exists():  # an installed wheel has no pyproject; a checkout must ship them
        config = packaged.read_text(encoding="utf-8")
        assert "static" in config and "templates" in config
