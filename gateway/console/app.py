"""The console's web application: Starlette routes over the gateway client.

``build_app`` wires the security checks (``security``), the pages of the regulator
(``views_audit``, ``views_supervision``) and of the security officer (``views_policy``)
and the overview every officer sees. Pages are Jinja2 templates; the only scripts are
files shipped in ``static/`` (htmx, and the browser's own proof checker ``verify.js``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from gateway import __version__
from gateway.catalogue.registry import Catalogue
from gateway.clock import Clock, parse_rfc3339
from gateway.console.backend import ConsoleBackend, GatewayFailure
from gateway.console.labels import label, text
from gateway.console.security import ConsoleSecurity, Gatekeeper

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
REGULATOR = "regulator"
OFFICER = "security_officer"


@dataclass
class ConsoleContext:
    """What every page may use: the gateway, the officer's identity, local settings."""

    backend: ConsoleBackend
    gate: Gatekeeper
    clock: Clock
    log_key: bytes  # the regulator's trusted copy of the gateway's log public key
    log_key_id: str
    state_dir: Path  # where the console keeps the checkpoints it has seen
    #: A local catalogue for party names and the explain form's suggestions (the gateway
    #: decides: names it does not know are refused there).
    catalogue: Catalogue | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def roles(self) -> tuple[str, ...]:
        """The acting party's roles (all sections when the catalogue is unknown)."""
        if self.catalogue is None or self.backend.party not in self.catalogue.parties:
            return (REGULATOR, OFFICER)
        return self.catalogue.parties[self.backend.party].roles

    def party_name(self, party: str) -> str:
        """A party's Chinese name from the catalogue ("" when unknown)."""
        if self.catalogue is None or party not in self.catalogue.parties:
            return ""
        return self.catalogue.parties[party].name_zh

    # -- the checkpoints this console has seen (the regulator's own memory) -----------

    @property
    def history_file(self) -> Path:
        """The JSON Lines file of checkpoints seen, oldest first."""
        return self.state_dir / "checkpoints.jsonl"

    def remember(self, note: str, size: int, root: bytes) -> None:
        """Keep a checkpoint the gateway handed over (unchecked: the browser checks)."""
        with self._lock:
            if any(c["note"] == note for c in self.history()):
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with self.history_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"note": note, "size": size,
                                     "root": base64.b64encode(root).decode()}) + "\n")

    def history(self) -> list[dict[str, Any]]:
        """Every checkpoint seen, oldest first."""
        if not self.history_file.exists():
            return []
        return [json.loads(line) for line in
                self.history_file.read_text(encoding="utf-8").splitlines() if line.strip()]


CITY = timezone(timedelta(hours=8))
_RULE_START = re.compile(r";\s+(?=\S+:\d+ )")


def city_time(instant: str) -> str:
    """An RFC 3339 instant as the city's wall-clock time (UTC+8), to the second."""
    try:
        return parse_rfc3339(instant).astimezone(CITY).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return instant


def rule_lines(rules: str) -> list[str]:
    """An audit entry's deciding rules, one per line ("file:line rule; file:line rule")."""
    return [r for r in _RULE_START.split(rules) if r]


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(L=label, T=text, version=__version__)
templates.env.filters.update(city=city_time, rules=rule_lines)


def ctx(request: Request) -> ConsoleContext:
    """The console context of the running app."""
    console: ConsoleContext = request.app.state.console
    return console


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
    """A page, with what every page needs (identity, roles, the CSRF token)."""
    c = ctx(request)
    session = getattr(request.state, "session", None)
    values.update(party=c.backend.party, party_zh=c.party_name(c.backend.party),
                  roles=c.roles, target=c.backend.target, REGULATOR=REGULATOR,
                  OFFICER=OFFICER, csrf=session.csrf if session else "",
                  path=request.url.path, name_of=c.party_name)
    return templates.TemplateResponse(request, name, values, status_code=status_code)


async def gateway_failure(request: Request, exc: Exception) -> Response:
    """A failed gateway call, in words."""
    assert isinstance(exc, GatewayFailure)
    return render(request, "error.html", status_code=502, failure=exc)


async def unexpected(request: Request, exc: Exception) -> Response:
    """Anything else: logged for the operator, a sentence for the officer, no traceback."""
    logger.error("console page failed: %s", type(exc).__name__)
    return render(request, "error.html", status_code=500,
                  failure=GatewayFailure("The console could not complete this page. "
                                         "控制台未能完成此页面。",
                                         "CONSOLE_ERROR"))


def overview(request: Request) -> Response:
    """Which party the console acts as, which gateway, and its health."""
    c = ctx(request)
    return render(request, "overview.html", health=c.backend.health(),
                  log_key_id=c.log_key_id)


def build_app(context: ConsoleContext) -> Starlette:
    """The console application for one officer's gateway client."""
    from gateway.console import views_audit, views_policy, views_supervision

    routes = [
        Route("/", overview),
        *views_audit.routes(),
        *views_supervision.routes(),
        *views_policy.routes(),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ConsoleSecurity, gatekeeper=context.gate)],
        exception_handlers={GatewayFailure: gateway_failure, Exception: unexpected},
    )
    app.state.console = context
    return app
