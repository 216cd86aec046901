"""The security officer's pages: live version, history, a proposal's diff, approval, explain.

Approval goes to the gateway as this officer's own call; the gateway alone decides whether
the officer may approve (never the author of the change), and the console shows its
refusal in words. A pending proposal made against a policy that is no longer live is
marked out of date (the gateway's PolicyVersion.out_of_date) and offers no approval. The
explain tool asks the gateway (PolicyAdmin/ExplainDecision), under the live version or a
pending proposal, and shows which version it decided under.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.console.app import ctx, render
from gateway.console.backend import GatewayFailure
from gateway.console.security import posted_form
from gateway.console.views_audit import csv_response
from gateway.policy.policyfile import ACTIONS, catalogue_objects


def _diff(version: Any) -> dict[str, Any]:
    try:
        diff = json.loads(version.diff_json or "{}")
    except ValueError:
        diff = {}
    return diff if isinstance(diff, dict) else {}


def _tests(version: Any) -> tuple[str, str]:
    """The decision-test outcome of a version as (state, words)."""
    if version.status == "rejected" and not version.reason.startswith("rejected by "):
        return "failed", version.reason or "rejected"
    # The gateway records a version only after validation, the bundle's decision tests
    # and the live version's decision tests pass.
    return "passed", ("validation, the bundle's decision tests and the live version's "
                      "decision tests passed. 校验、提案决策测试与现行决策测试均已通过。")


def policy_page(request: Request) -> Response:
    """The live version and the version history."""
    versions = ctx(request).backend.versions()
    live = next((v for v in versions if v.status == "active"), None)
    pending = [v for v in versions if v.status == "pending"]
    return render(request, "policy.html", versions=versions, live=live, pending=pending,
                  diff_of=_diff)


def version_page(request: Request, failure: GatewayFailure | None = None,
                 done: str = "") -> Response:
    """One version: its hashes, its effective-access change, its tests, approval forms."""
    vid = int(request.path_params["vid"])
    versions = ctx(request).backend.versions(1000)
    version = next((v for v in versions if v.id == vid), None)
    if version is None:
        raise GatewayFailure("The gateway has no policy version with that number. "
                             "网关无此策略版本。",
                             "NOT_FOUND")
    diff = _diff(version)
    changes = [*diff.get("gained", []), *diff.get("lost", [])]
    state, words = _tests(version)
    return render(request, "version.html", v=version, changes=changes,
                  notes=diff.get("notes", []), tests_state=state, tests_words=words,
                  tests_changed=diff.get("tests_changed", []),
                  tests_run=diff.get("tests") if isinstance(diff.get("tests"), dict) else None,
                  failure=failure, done=done,
                  status_code=409 if failure else 200)


async def approve(request: Request) -> Response:
    """Approve as this officer; a refusal is shown on the version's page in words."""
    return await _decide(request, "approved")


async def reject(request: Request) -> Response:
    """Reject as this officer, with a comment."""
    return await _decide(request, "rejected")


async def _decide(request: Request, outcome: str) -> Response:
    vid = int(request.path_params["vid"])
    backend = ctx(request).backend
    comment = posted_form(request).get("comment", "")
    comment = comment.strip() if isinstance(comment, str) else ""
    decide = backend.approve if outcome == "approved" else backend.reject
    try:
        await run_in_threadpool(decide, vid, comment)
    except GatewayFailure as failure:
        return await run_in_threadpool(version_page, request, failure)
    return RedirectResponse(f"/policy/{vid}?done={outcome}", status_code=303)


def versions_csv(request: Request) -> Response:
    """The version history as CSV."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "status", "version", "bundle_hash", "author", "proposed_at",
                "approver", "decided_at", "reason", "comment"])
    for v in ctx(request).backend.versions(1000):
        w.writerow([v.id, v.status, v.version, v.bundle_hash, v.author, v.proposed_at,
                    v.approver, v.decided_at, v.reason, v.comment])
    return csv_response(out.getvalue(), "policy-versions.csv")


def diff_csv(request: Request) -> Response:
    """One version's effective-access change as CSV (gained and lost)."""
    vid = int(request.path_params["vid"])
    version = next((v for v in ctx(request).backend.versions(1000) if v.id == vid), None)
    if version is None:
        raise GatewayFailure("The gateway has no policy version with that number. "
                             "网关无此策略版本。",
                             "NOT_FOUND")
    diff = _diff(version)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["change", "party", "purpose", "field", "action", "before", "after", "when"])
    for c in [*diff.get("gained", []), *diff.get("lost", [])]:
        w.writerow([c.get("change", ""), c.get("party", ""), c.get("purpose", ""),
                    c.get("object", ""), c.get("action", ""), c.get("before", ""),
                    c.get("after", ""), c.get("when", "")])
    return csv_response(out.getvalue(), f"policy-{vid}-access-change.csv")


def version_get(request: Request) -> Response:
    """GET of a version page."""
    done = request.query_params.get("done", "")
    return version_page(request, done=done if done in ("approved", "rejected") else "")


def explain_page(request: Request) -> Response:
    """The explain tool as a form, answered by the gateway under the live version or a
    pending proposal: party, purpose, object, action, consent, age, version."""
    c = ctx(request)
    q = request.query_params
    form = {"party": q.get("party", ""), "purpose": q.get("purpose", ""),
            "object": q.get("object", ""), "action": q.get("action", "read"),
            "consent": q.get("consent") == "on", "age": q.get("age", ""),
            "version": q.get("version", "")}
    result = None
    problems: list[str] = []
    failure: GatewayFailure | None = None
    if form["party"]:
        age = None
        if form["age"]:
            try:
                age = int(str(form["age"]))
            except ValueError:
                problems.append("the age must be a whole number 年龄须为整数")
            else:
                if not 0 <= age <= 150:
                    problems.append("the age must be 0-150 年龄须在 0-150 之间")
        version_id = 0
        if form["version"]:
            try:
                version_id = int(str(form["version"]))
            except ValueError:
                problems.append("choose the live version or a pending proposal "
                                 "请选择现行版本或待批准提案")
        if not problems:
            try:
                result = c.backend.explain(
                    party=str(form["party"]), purpose=str(form["purpose"]),
                    obj=str(form["object"]), action=str(form["action"]),
                    consent=bool(form["consent"]), subject_age=age, version_id=version_id)
            except GatewayFailure as refused:
                # Unknown codes and refusals are shown beside the form, in words.
                failure = refused
    values: dict[str, Any] = {"form": form, "result": result, "problems": problems,
                              "failure": failure}
    if request.headers.get("hx-request"):
        return render(request, "explain_result.html", **values)
    versions = c.backend.versions()
    cat = c.catalogue
    choices = {"parties": sorted(cat.parties) if cat else [],
               "purposes": sorted(cat.purposes) if cat else [],
               "objects": sorted(catalogue_objects(cat)) if cat else [],
               "actions": sorted(ACTIONS)}
    return render(request, "explain.html", choices=choices,
                  live=next((v for v in versions if v.status == "active"), None),
                  pending=[v for v in versions if v.status == "pending"], **values)


def routes() -> list[Route]:
    """The policy routes."""
    return [Route("/policy", policy_page),
            Route("/policy.csv", versions_csv),
            Route("/policy/{vid:int}/diff.csv", diff_csv),
            Route("/policy/{vid:int}", version_get),
            Route("/policy/{vid:int}/approve", approve, methods=["POST"]),
            Route("/policy/{vid:int}/reject", reject, methods=["POST"]),
            Route("/explain", explain_page)]
