"""The regulator's log pages: search, entry detail, proofs for the browser, checkpoints.

A search is sent by POST and kept in the session under a random id: the ID number a
regulator types goes to the gateway (which turns it into the blind index) and nowhere
else, not into a URL, the browser history or a page. Neither it nor the blind index is
shown back.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.console.app import CITY, ctx, render
from gateway.console.backend import MAX_COLLECT, Collected, GatewayFailure, SearchFilter
from gateway.console.security import posted_form

PAGE = 50
# Members of an entry's canonical bytes that the AuditEntry message has no field for.
SHOWN_FROM_BYTES = ("request_id", "record_count", "v")
KEPT_SEARCHES = 8
#: Entries one search gathers; the page says "more than" past it, the CSV refuses.
SEARCH_LIMIT = MAX_COLLECT
CSV_FIELDS = ("seq", "time", "requester", "action", "purpose", "decision", "reason",
              "consent_id", "categories", "fields_released", "policy_rule", "policy_version",
              "trace_id")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _instant(value: str, name: str) -> str:
    """A datetime-local input (city time) as an RFC 3339 UTC instant ("" stays "")."""
    if not value:
        return ""
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise GatewayFailure(f"The {name} time is not a date and time. "
                             "时间格式无效。", "INVALID_INPUT") \
            from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=CITY)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _form_value(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


async def search(request: Request) -> Response:
    """Run a search (POST), keep its results in the session, show its first page."""
    form = posted_form(request)
    decision = _form_value(form, "decision")
    flt = SearchFilter(
        requester=_form_value(form, "requester"), purpose=_form_value(form, "purpose"),
        decision=decision if decision in ("allow", "deny") else "",
        action=_form_value(form, "action"),
        time_from=_instant(_form_value(form, "time_from"), "from"),
        time_to=_instant(_form_value(form, "time_to"), "to"),
        subject_id=_form_value(form, "subject_id"))
    found = await run_in_threadpool(
        functools.partial(ctx(request).backend.collect, flt, limit=SEARCH_LIMIT))
    shown = {k: v for k, v in ((k, _form_value(form, k)) for k in
                               ("requester", "purpose", "decision", "action", "time_from",
                                "time_to")) if v}
    searches = request.state.session.searches
    while len(searches) >= KEPT_SEARCHES:
        searches.pop(next(iter(searches)))
    qid = secrets.token_urlsafe(9)
    # The kept filter has no ID number: only that a person was searched for.
    searches[qid] = {"form": shown, "subject": bool(flt.subject_id),
                     "described": flt.described(), "found": found}
    return RedirectResponse(f"/audit?q={qid}", status_code=303)


def audit_page(request: Request) -> Response:
    """The search form and, for a kept search, one page of its results."""
    qid = request.query_params.get("q", "")
    kept = request.state.session.searches.get(qid)
    try:
        page = max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        page = 1
    rows: list[Any] = []
    total = 0
    truncated = False
    if kept is not None:
        found: Collected = kept["found"]
        total, truncated = len(found.entries), found.truncated
        page = min(page, max((total + PAGE - 1) // PAGE, 1))
        rows = list(found.entries[(page - 1) * PAGE: page * PAGE])
    return render(request, "audit.html", kept=kept, qid=qid if kept else "", rows=rows,
                  page=page, pages=max((total + PAGE - 1) // PAGE, 1), total=total,
                  truncated=truncated, first=(page - 1) * PAGE + 1 if rows else 0,
                  last=(page - 1) * PAGE + len(rows))


def audit_csv(request: Request) -> Response:
    """A kept search as CSV (UTF-8 with a BOM; no subject column)."""
    kept = request.state.session.searches.get(request.query_params.get("q", ""))
    if kept is None:
        raise GatewayFailure("That search is no longer kept; search again. "
                             "该检索已过期，请重新检索。", "NO_SEARCH")
    if kept["found"].truncated:
        # A file holding the first entries alone would pass for the whole search.
        raise GatewayFailure(
            f"More than {SEARCH_LIMIT} entries match this search: narrow it (a shorter time "
            "range, a requester or an action) to export it whole. 匹配条目过多，请缩小检索"
            "范围后再导出。", "TOO_MANY")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for e in kept["found"].entries:
        writer.writerow([e.seq, e.time, e.requester, e.action, e.purpose, e.decision,
                         e.reason, e.consent_id, " ".join(e.categories),
                         " ".join(e.fields_released), e.policy_rule, e.policy_version,
                         e.trace_id])
    return csv_response(out.getvalue(), "audit-search.csv")


def csv_response(body: str, filename: str) -> Response:
    """A CSV download that spreadsheet programs read as UTF-8."""
    return Response("\ufeff" + body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _find(request: Request, seq: int) -> Any:
    for kept in request.state.session.searches.values():
        for e in kept["found"].entries:
            if e.seq == seq:
                return e
    return None


def _logged(canonical: bytes) -> dict[str, Any]:
    """The members of an entry's canonical bytes (what the Merkle tree hashes)."""
    try:
        data = json.loads(canonical)
    except ValueError:
        raise GatewayFailure("The gateway returned an entry that is not canonical JSON.",
                             "DATA_LOSS") from None
    if not isinstance(data, dict):
        raise GatewayFailure("The gateway returned an entry that is not canonical JSON.",
                             "DATA_LOSS")
    return data


def entry_page(request: Request) -> Response:
    """Everything the regulator API returns about one entry, and the Verify button.

    The page shows every member of the logged bytes but the subject's blind index (the
    message's fields, and request_id, record_count and the format version "v" that only
    the bytes carry); Verify checks each shown value against those bytes.
    """
    seq = int(request.path_params["seq"])
    entry = _find(request, seq) or ctx(request).backend.entry(seq)
    logged = _logged(entry.canonical)
    extra = {k: logged.get(k) for k in SHOWN_FROM_BYTES}
    return render(request, "entry.html", e=entry, canonical=_b64(entry.canonical),
                  logged=extra, log_key=_b64(ctx(request).log_key))


def proof_json(request: Request) -> Response:
    """The inclusion proof and signed checkpoint, for the browser to check itself."""
    c = ctx(request)
    seq = int(request.path_params["seq"])
    try:
        proof = c.backend.inclusion_proof(seq)
    except GatewayFailure as failure:
        return JSONResponse({"error": failure.words, "detail": failure.detail}, 502)
    cp = proof.checkpoint
    c.remember(cp.text, cp.size, cp.root_hash)
    return JSONResponse({"seq": seq, "leaf_index": proof.leaf_index,
                         "tree_size": proof.tree_size,
                         "hashes": [_b64(h) for h in proof.hashes],
                         "checkpoint": cp.text})


def checkpoints_page(request: Request) -> Response:
    """The checkpoints this console has seen, each checked in the browser."""
    c = ctx(request)
    history = list(reversed(c.history()))
    return render(request, "checkpoints.html", history=history, log_key=_b64(c.log_key))


def checkpoints_csv(request: Request) -> Response:
    """The checkpoints this console has seen as CSV (the signed notes included)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tree_size", "time", "root_hash", "origin", "signed_note"])
    for c in reversed(ctx(request).history()):
        lines = c["note"].split("\n")
        signed = next((line[5:] for line in lines if line.startswith("time ")), "")
        writer.writerow([c["size"], signed, c["root"], lines[0], c["note"]])
    return csv_response(out.getvalue(), "checkpoints.csv")


async def fetch_checkpoint(request: Request) -> Response:
    """Ask the gateway for a freshly signed checkpoint and keep it."""
    c = ctx(request)
    cp = await run_in_threadpool(lambda: c.backend.checkpoint(fresh=True))
    c.remember(cp.text, cp.size, cp.root_hash)
    return RedirectResponse("/checkpoints", status_code=303)


def consistency_page(request: Request) -> Response:
    """Two kept checkpoints and the proof between them, for the browser to check."""
    c = ctx(request)
    history = c.history()
    try:
        old = history[int(request.query_params.get("old", ""))]
        new = history[int(request.query_params.get("new", ""))]
    except (ValueError, IndexError):
        raise GatewayFailure("Choose two checkpoints from the list. "
                             "请从列表中选择两个检查点。", "INVALID_INPUT") \
            from None
    if old["size"] > new["size"]:
        old, new = new, old
    hashes: list[str] = []
    if old["size"] != new["size"]:
        proof = c.backend.consistency_proof(old["size"], new["size"])
        hashes = [_b64(h) for h in proof.hashes]
    return render(request, "consistency.html", old=old, new=new, hashes=hashes,
                  log_key=_b64(c.log_key))


def routes() -> list[Route]:
    """The log routes."""
    return [
        Route("/audit", audit_page),
        Route("/audit/search", search, methods=["POST"]),
        Route("/audit.csv", audit_csv),
        Route("/audit/entry/{seq:int}", entry_page),
        Route("/audit/entry/{seq:int}/proof.json", proof_json),
        Route("/checkpoints", checkpoints_page),
        Route("/checkpoints.csv", checkpoints_csv),
        Route("/checkpoints/fetch", fetch_checkpoint, methods=["POST"]),
        Route("/checkpoints/consistency", consistency_page),
    ]
