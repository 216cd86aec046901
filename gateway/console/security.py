"""Who may use a running console: one browser that opened the one-time link, nothing else.

Every request passes these checks, in this order, before any page code runs:

1. **Host.** The Host header must name the console's own loopback address, so a web
   page that rebinds its DNS name to 127.0.0.1 cannot read the console.
2. **Origin.** A request that carries an Origin must come from the console itself; a
   state-changing request (anything but GET/HEAD) must carry one.
3. **Session.** The first visit presents the one-time token in the URL (as Jupyter
   does); it is spent at once and exchanged for a session cookie that is HttpOnly and
   SameSite=Strict. Every later request needs that cookie.
4. **CSRF.** A state-changing request must carry the session's CSRF token, as the form
   field ``csrf_token`` or the ``X-CSRF-Token`` header.

Every answer carries a Content-Security-Policy that allows scripts from the console only
(no inline script, no eval), and tells other sites nothing (no referrer leaves, no framing).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_IDLE_SECONDS = 12 * 3600
# Assets are the same for everyone and hold nothing: the refusal pages need the style.
PUBLIC_PREFIXES = ("/static/",)


@dataclass
class Session:
    """One signed-in browser: its CSRF token and when it was last used."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_used: float = field(default_factory=time.monotonic)
    # The session's recent log searches by id, so an ID number never goes into a URL.
    searches: dict[str, Any] = field(default_factory=dict)


class Gatekeeper:
    """The one-time token and the sessions it opened (kept in memory only)."""

    def __init__(self, *, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self._spent = False
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.cookie = f"credgate_console_{port}"  # cookies ignore ports: one name per console
        self.origins = frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})

    @property
    def login_url(self) -> str:
        """The URL to open once, with the token (print it to the officer only)."""
        return f"http://127.0.0.1:{self.port}/?{urlencode({'token': self.token})}"

    def spend_token(self, offered: str) -> str | None:
        """A new session id when the offered token is right and unspent, else None."""
        with self._lock:
            if self._spent or not hmac.compare_digest(offered.encode(), self.token.encode()):
                return None
            self._spent = True
            sid = secrets.token_urlsafe(32)
            self._sessions[sid] = Session()
            return sid

    def session(self, sid: str | None) -> Session | None:
        """The live session for a cookie value, or None."""
        if not sid:
            return None
        with self._lock:
            found = self._sessions.get(sid)
            now = time.monotonic()
            if found is None or now - found.last_used > SESSION_IDLE_SECONDS:
                self._sessions.pop(sid, None)
                return None
            found.last_used = now
            return found


def refusal(status: int, text: str) -> Response:
    """A plain refusal in words (no page, no detail of what was checked)."""
    return PlainTextResponse(text, status_code=status)


class ConsoleSecurity(BaseHTTPMiddleware):
    """Runs the four checks of the module docstring on every request."""

    def __init__(self, app: Callable, gatekeeper: Gatekeeper) -> None:
        super().__init__(app)
        self.gate = gatekeeper

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Check, then pass on; add the security headers to whatever is answered."""
        response = await self._checked(request, call_next)
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on
        # form posts, and the Origin check needs the real one. Nothing goes to other sites.
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if not request.url.path.startswith(PUBLIC_PREFIXES):
            headers["Cache-Control"] = "no-store"
        return response

    async def _checked(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        gate = self.gate
        # 1. Host: defeats DNS rebinding.
        if request.headers.get("host", "") not in gate.hosts:
            return refusal(400, "This console answers only on its own loopback address.")
        # 2. Origin: another site's page may not drive the console.
        origin = request.headers.get("origin")
        unsafe = request.method not in SAFE_METHODS
        if origin is not None and origin not in gate.origins:
            return refusal(403, "Refused: the request comes from another site (Origin).")
        if unsafe and origin is None:
            return refusal(403, "Refused: a change must come from the console's own pages.")
        if request.url.path.startswith(PUBLIC_PREFIXES) and not unsafe:
            return await call_next(request)
        # 3. Session: the one-time token opens one session; the cookie carries it.
        offered = request.query_params.get("token")
        if offered is not None:
            if gate.session(request.cookies.get(gate.cookie)) is not None:
                return RedirectResponse(request.url.path, status_code=303)
            sid = gate.spend_token(offered)
            if sid is None:
                return refusal(403, "Refused: this link is not valid or was already used. "
                                    "Start `credgate console` again for a new link.")
            response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(gate.cookie, sid, httponly=True, samesite="strict", path="/")
            return response
        session = gate.session(request.cookies.get(gate.cookie))
        if session is None:
            return refusal(401, "Sign in by opening the link `credgate console` printed.")
        request.state.session = session
        # 4. CSRF: every change carries the session's token.
        if unsafe:
            # The body can be read only once: the pages take the form from request.state.
            form = await request.form()
            request.state.form = form
            value = form.get(CSRF_FIELD)
            sent = request.headers.get(CSRF_HEADER) or (value if isinstance(value, str)
                                                         else None)
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return refusal(403, "Refused: the form has no valid CSRF token. "
                                    "Reload the page and try again.")
        return await call_next(request)


def posted_form(request: Request) -> Any:
    """The form of a state-changing request, as the CSRF check read it."""
    return request.state.form
