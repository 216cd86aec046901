"""The regulator's supervision page: volumes, refusals and consent use, charts and CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.clock import city_today
from gateway.console import charts
from gateway.console.app import CITY, ConsoleContext, ctx, render
from gateway.console.backend import GatewayFailure, SearchFilter
from gateway.console.figures import Figures, count
from gateway.console.labels import text
from gateway.console.views_audit import csv_response
from gateway.supervision import QUERY_ACTIONS

DEFAULT_DAYS = 30


def _period(request: Request, c: ConsoleContext) -> tuple[date, date]:
    today = city_today(c.clock)
    try:
        start = date.fromisoformat(request.query_params.get("from", "") or
                                   (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
        end = date.fromisoformat(request.query_params.get("to", "") or today.isoformat())
    except ValueError:
        raise GatewayFailure("A period day is not a date (YYYY-MM-DD).", "INVALID_INPUT") \
            from None
    if end < start:
        start, end = end, start
    return start, end


def _bounds(start: date, end: date) -> tuple[str, str]:
    """The period's first and last instant, as RFC 3339 with the city's offset."""
    first = datetime.combine(start, time(0, 0, 0), CITY)
    last = datetime.combine(end, time(23, 59, 59), CITY)
    return first.isoformat(), last.isoformat()


def _figures(c: ConsoleContext, start: date, end: date) -> Figures:
    time_from, time_to = _bounds(start, end)
    entries: list[Any] = []
    for action in QUERY_ACTIONS:
        entries.extend(c.backend.collect(SearchFilter(action=action, time_from=time_from,
                                                      time_to=time_to)).entries)
    return count(entries)


def _departments(c: ConsoleContext) -> list[dict[str, Any]]:
    open_: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    for o in c.backend.objections():
        if o.status == "open":
            open_[o.provider] += 1
            overdue[o.provider] += o.overdue
        else:
            answered[o.provider] += 1
    providers = sorted(set(open_) | set(answered))
    return [{"provider": p, "name_zh": c.party_name(p), "open": open_[p],
             "overdue": overdue[p], "answered": answered[p]} for p in providers]


def supervision_page(request: Request) -> Response:
    """Charts with the numbers beside them, for the chosen period."""
    c = ctx(request)
    start, end = _period(request, c)
    f = _figures(c, start, end)
    departments = _departments(c)
    note = ("allowed", "refused")
    return render(
        request, "supervision.html", start=start, end=end, f=f, departments=departments,
        party_chart=charts.hbar(text("per_party"), [
            (t.key, (t.queries - t.refused, t.refused)) for t in f.by_party], note=note),
        purpose_chart=charts.hbar(text("per_purpose"), [
            (t.key, (t.queries - t.refused, t.refused)) for t in f.by_purpose], note=note),
        day_chart=charts.columns(text("per_day"), [
            (t.key, (t.queries - t.refused, t.refused)) for t in f.by_day]),
        refusal_chart=charts.hbar(text("refusals"), [(r, (n,)) for r, n in f.refusals],
                                  (charts.REFUSED,)),
        consent_chart=charts.hbar(text("consent_use"), [
            (t.key, (t.consent_uses,)) for t in f.by_party if t.consent_uses],
            (charts.CONSENT,)),
        objection_chart=charts.hbar(text("departments"), [
            (d["provider"], (d["open"] - d["overdue"], d["overdue"], d["answered"]))
            for d in departments], (charts.ALLOWED, charts.REFUSED, "#9aa5b1"),
            note=("open", "overdue", "answered")))


VIEWS = ("rows", "party", "purpose", "day", "refusals", "consent", "departments")


def supervision_csv(request: Request) -> Response:
    """One view of the supervision page as CSV."""
    c = ctx(request)
    view = request.query_params.get("view", "rows")
    if view not in VIEWS:
        raise GatewayFailure("There is no such view.", "INVALID_INPUT")
    out = io.StringIO()
    w = csv.writer(out)
    if view == "departments":
        w.writerow(["provider", "name_zh", "objections_open", "objections_overdue",
                    "objections_answered"])
        for d in _departments(c):
            w.writerow([d["provider"], d["name_zh"], d["open"], d["overdue"], d["answered"]])
        return csv_response(out.getvalue(), "supervision-departments.csv")
    start, end = _period(request, c)
    f = _figures(c, start, end)
    if view == "rows":
        w.writerow(["day", "party", "purpose", "queries", "refused", "consent_uses"])
        for r in f.rows:
            w.writerow([r.day.isoformat(), r.party, r.purpose, r.queries, r.refused,
                        r.consent_uses])
    elif view == "refusals":
        w.writerow(["reason", "refused"])
        w.writerows(f.refusals)
    else:
        tallies = {"party": f.by_party, "purpose": f.by_purpose, "day": f.by_day,
                   "consent": f.by_party}[view]
        w.writerow([view if view != "consent" else "party", "queries", "refused",
                    "consent_uses"])
        for t in tallies:
            w.writerow([t.key, t.queries, t.refused, t.consent_uses])
    return csv_response(out.getvalue(), f"supervision-{view}-{start}-{end}.csv")


def routes() -> list[Route]:
    """The supervision routes."""
    return [Route("/supervision", supervision_page),
            Route("/supervision.csv", supervision_csv)]
