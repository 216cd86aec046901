"""Helpers for driving the console in the browser and over plain HTTP."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.console.runner import RunningConsole
from tests.console.world import SHOTS_ENV

WAIT = 20  # generous: CI machines are shared and the browser waits on the gateway


_SIGNED_IN: set[int] = set()


def login(driver: Any, console: RunningConsole) -> None:
    """Open the one-time link (once per console per browser session)."""
    if console.gate.port in _SIGNED_IN:
        return
    driver.get(console.gate.login_url)
    _SIGNED_IN.add(console.gate.port)


def cookie_of(driver: Any, console: RunningConsole) -> str:
    """The browser's session cookie for a console (for plain HTTP requests)."""
    found = driver.get_cookie(console.gate.cookie)
    assert found is not None, "not signed in"
    assert found["httpOnly"] is True and found["sameSite"] == "Strict"
    return f"{console.gate.cookie}={found['value']}"


def wait_text(driver: Any, css: str, *needles: str) -> str:
    """Wait until the element's text holds one of the needles; returns the text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: Any) -> str | bool:
        elements = d.find_elements(By.CSS_SELECTOR, css)
        text = elements[0].text if elements else ""
        return text if any(n in text for n in needles) else False

    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException

    try:
        return str(WebDriverWait(driver, WAIT, ignored_exceptions=(
            StaleElementReferenceException,)).until(ready))
    except TimeoutException:
        page = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"{css} never held {needles}; the page says:\n{page}") from None


def explain(driver: Any, console: RunningConsole, *, party: str, purpose: str, obj: str,
            version: str = "") -> tuple[str, str]:
    """Run the explain form ("" decides under the live version, else a proposal's id);
    returns the decision's text and the words naming the version decided under."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(console.base_url + "/explain")
    for name, value in (("party", party), ("purpose", purpose), ("object", obj)):
        driver.find_element(By.NAME, name).send_keys(value)
    Select(driver.find_element(By.NAME, "version")).select_by_value(version)
    driver.find_element(By.ID, "explain-button").click()
    decision = wait_text(driver, "#explain-decision", "ALLOW", "DENY")
    return decision, driver.find_element(By.ID, "explain-version").text


def shot(driver: Any, out: Path, name: str) -> Path:
    """Save a screenshot of the whole page under out (and in $CREDGATE_CONSOLE_SCREENSHOTS)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 140, 2400)))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get(SHOTS_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / f"{name}.png"))
    driver.set_window_size(1280, 800)
    return path


def http(console: RunningConsole, path: str, *, method: str = "GET",
         headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, str]:
    """A plain request to the console; returns (status, text)."""
    request = urllib.request.Request(console.base_url + path, data=body, method=method,
                                     headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=WAIT) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report redirects instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
