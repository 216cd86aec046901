"""The regulator's supervision page: volumes, refusals and consent use, charts and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.clock import city_today
from gateway.console import charts
from gateway.console.app import CITY, ConsoleContext, ctx, render
from gateway.console.backend import MAX_COLLECT, GatewayFailure, SearchFilter
from gateway.console.figures import Figures, count
from gateway.console.labels import text
from gateway.console.views_audit import csv_response
from gateway.supervision.figures import QUERY_ACTIONS

DEFAULT_DAYS = 30
COLLECT_LIMIT = MAX_COLLECT  # entries of one action counted at most (else: a shorter period)


def _period(request: Request, c: ConsoleContext) -> tuple[date, date]:
    today = city_today(c.clock)
    try:
        start = date.fromisoformat(request.query_params.get("from", "") or
                                   (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
        end = date.fromisoformat(request.query_params.get("to", "") or today.isoformat())
    except ValueError:
        raise GatewayFailure("A period day is not a date (YYYY-MM-DD). "
                             "统计期间日期格式无效。", "INVALID_INPUT") \
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
    """The period's figures; raises GatewayFailure rather than count part of the log."""
    time_from, time_to = _bounds(start, end)
    entries: list[Any] = []
    for action in QUERY_ACTIONS:
        found = c.backend.collect(SearchFilter(action=action, time_from=time_from,
                                               time_to=time_to), limit=COLLECT_LIMIT)
        if found.truncated:
            # Figures over the first entries only would understate every count.
            raise GatewayFailure(
                f"More than {COLLECT_LIMIT} {action} entries fall in this period: choose "
                "a shorter period. 统计期间内条目过多，请缩短统计期间。", "TOO_MANY")
        entries.extend(found.entries)
    return count(entries)


def _lag(row: Any, name: str) -> str:
    return f"{getattr(row, name):g}" if row.HasField(name) else "-"


def _departments(c: ConsoleContext, reply: Any) -> list[dict[str, Any]]:
    """Per providing department: submissions, lateness, objections, repairs decided and
    late 双公示 publications (from the gateway's figures)."""
    return [{"provider": d.provider, "name_zh": d.name_zh or c.party_name(d.provider),
             "submitted": d.records_submitted, "median_lag": _lag(d, "median_lag_days"),
             "max_lag": _lag(d, "max_lag_days"), "open": d.objections_open,
             "overdue": d.objections_overdue, "repairs_granted": d.repairs_granted,
             "repairs_refused": d.repairs_refused, "published_late": d.published_late}
            for d in reply.departments]


#: The columns of the 应查必查 table and its CSV, in order.
MANDATORY_COLUMNS = ("department", "name_zh", "purpose", "purpose_zh", "month", "checks",
                     "people_checked", "decisions_declared", "decisions_without_check")


def _mandatory_checks(reply: Any) -> list[dict[str, Any]]:
    """应查必查 per department, purpose and month: the checks made beside the decisions
    declared ("-" where the department declared none), from the gateway's figures."""
    return [{**{name: getattr(m, name) for name in MANDATORY_COLUMNS[:7]},
             **{name: getattr(m, name) if m.HasField(name) else "-"
                for name in MANDATORY_COLUMNS[7:]}}
            for m in reply.mandatory_checks]


def supervision_page(request: Request) -> Response:
    """Charts with the numbers beside them, for the chosen period."""
    c = ctx(request)
    start, end = _period(request, c)
    f = _figures(c, start, end)
    reply = c.backend.supervision_figures()
    departments = _departments(c, reply)
    note = ("allowed", "refused")
    return render(
        request, "supervision.html", start=start, end=end, f=f, departments=departments,
        mandatory=_mandatory_checks(reply),
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
        lag_chart=charts.hbar(text("median_lag"), [
            (d["provider"], (round(float(d["median_lag"])),)) for d in departments
            if d["median_lag"] != "-"], (charts.LAG,)),
        objection_chart=charts.hbar(text("open_objections"), [
            (d["provider"], (d["open"] - d["overdue"], d["overdue"]))
            for d in departments if d["open"]], note=("open", "overdue")))


VIEWS = ("rows", "party", "purpose", "day", "refusals", "reasons", "consent", "departments",
         "mandatory")


def supervision_csv(request: Request) -> Response:
    """One view of the supervision page as CSV."""
    c = ctx(request)
    view = request.query_params.get("view", "rows")
    if view not in VIEWS:
        raise GatewayFailure("There is no such view. 无此视图。", "INVALID_INPUT")
    out = io.StringIO()
    w = csv.writer(out)
    if view == "departments":
        w.writerow(["provider", "name_zh", "records_submitted", "median_lag_days",
                    "max_lag_days", "objections_open", "objections_overdue",
                    "repairs_granted", "repairs_refused", "published_late"])
        for d in _departments(c, c.backend.supervision_figures()):
            w.writerow([d["provider"], d["name_zh"], d["submitted"], d["median_lag"],
                        d["max_lag"], d["open"], d["overdue"], d["repairs_granted"],
                        d["repairs_refused"], d["published_late"]])
        return csv_response(out.getvalue(), "supervision-departments.csv")
    if view == "mandatory":
        w.writerow(MANDATORY_COLUMNS)
        for m in _mandatory_checks(c.backend.supervision_figures()):
            w.writerow([m[name] for name in MANDATORY_COLUMNS])
        return csv_response(out.getvalue(), "supervision-mandatory-checks.csv")
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
    elif view == "reasons":
        w.writerow(["day", "party", "purpose", "reason", "refused"])
        for day, party, purpose, reason, n in f.reason_rows:
            w.writerow([day.isoformat(), party, purpose, reason, n])
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
