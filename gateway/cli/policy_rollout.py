"""`credgate policy rollout|show|approve|versions`: rolling a policy out through the gateway.

Under the two-person rule the second security officer approves what `policy show` lets
them see: the effective change in access, the author, the hashes and the state.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    CliError,
    add_client_options,
    command_parser,
    connect,
    print_json,
    print_table,
)
from gateway.policy.rollout import read_bundle

#: How far back `policy show` looks for a version (the gateway lists at most this many).
SHOW_LIMIT = 1000


def register_actions(sub: argparse._SubParsersAction) -> None:
    """Add the rollout actions to the `policy` command group."""
    rollout = command_parser(
        sub, "rollout", help="send a policy folder to the gateway to go live",
        description="The gateway validates the folder, runs its decision tests and "
                    "computes the access diff; only then does it swap the policy in, at "
                    "once or, under the two-person rule, after a second security "
                    "officer's `policy approve`. A rejected version leaves the running "
                    "policy in place. Exit 1 when the version is rejected.",
        example="credgate policy rollout proposed/")
    rollout.add_argument("directory", type=Path, help="the policy folder to roll out")
    add_client_options(rollout, party="security_officer")
    rollout.set_defaults(handler=run_rollout)

    show = command_parser(
        sub, "show", help="one version: its access change, author, hashes and state",
        description="What a second officer reads before approving: the effective change "
                    "in access against the policy running when it was proposed, who "
                    "proposed it and when, who decided and when, its hashes and state.",
        example="credgate policy show 1 --party security_officer_b")
    show.add_argument("id", type=int, help="the version id from `policy versions`")
    add_client_options(show, party="security_officer")
    show.set_defaults(handler=run_show)

    approve = command_parser(
        sub, "approve", help="approve a pending version (second officer)",
        description="Approve a pending version: it goes live at once. The author may not "
                    "approve their own proposal.",
        example="credgate policy approve 1 --party security_officer_b")
    approve.add_argument("id", type=int, help="the version id from `policy versions`")
    approve.add_argument("--comment", default="", help="why (kept with the version)")
    add_client_options(approve, party="security_officer_b")
    approve.set_defaults(handler=run_approve)

    reject = command_parser(
        sub, "reject", help="turn a pending version down (any security officer)",
        description="Reject a pending version; the running policy stays. The comment is "
                    "kept with the version, never in the audit log.",
        example="credgate policy reject 1 --comment \"widens agency access\" "
                "--party security_officer_b")
    reject.add_argument("id", type=int, help="the version id from `policy versions`")
    reject.add_argument("--comment", required=True, help="why (kept with the version)")
    add_client_options(reject, party="security_officer_b")
    reject.set_defaults(handler=run_reject)

    versions = command_parser(
        sub, "versions", help="the gateway's policy versions, newest first",
        description="Every version with its state, who proposed it and when, and who "
                    "decided it and when. A pending proposal made against a policy that is "
                    "no longer live is marked out of date: the gateway refuses to approve it.",
        example="credgate policy versions --limit 5")
    versions.add_argument("--limit", type=int, default=20)
    add_client_options(versions, party="security_officer")
    versions.set_defaults(handler=run_versions)


def version_json(v: pb.PolicyVersion) -> dict[str, Any]:
    """A version as plain data (absent times and approvers are null)."""
    return {"id": v.id, "version": v.version, "bundle_hash": v.bundle_hash,
            "status": v.status, "author": v.author, "proposed_at": v.proposed_at or None,
            "approver": v.approver or None, "decided_at": v.decided_at or None,
            "reason": v.reason or None, "comment": v.comment or None,
            "out_of_date": v.out_of_date, "diff": json.loads(v.diff_json or "{}")}


def status_words(v: pb.PolicyVersion) -> str:
    """A version's state; a pending one made against a policy no longer live says so."""
    return f"{v.status} (out of date)" if v.out_of_date else v.status


def _show(version: pb.PolicyVersion, as_json: bool, *, full: bool = False) -> None:
    if as_json:
        print_json(version_json(version))
        return
    diff = json.loads(version.diff_json or "{}")
    print(f"policy version {version.id}: {status_words(version)}")
    rows = [("author", f"{version.author}, proposed {version.proposed_at or '-'}")]
    if version.approver or version.decided_at:
        rows.append(("decided", f"{version.approver or 'the gateway'}, "
                                f"{version.decided_at or '-'}"))
    rows.append(("version", version.version if full else version.version[:16]))
    if full:
        rows.append(("bundle", version.bundle_hash))
    if version.reason:
        rows.append(("reason", version.reason))
    if version.comment:
        rows.append(("comment", version.comment))
    for key, value in rows:
        print(f"  {key:<8} {value}")
    changes = [*diff.get("gained", []), *diff.get("lost", [])]
    if changes:
        print("effective change in access:")
        print_table(["change", "party", "purpose", "object", "before", "after", "when"],
                    [[c["change"], c["party"], c["purpose"], c["object"], c["before"],
                      c["after"], c["when"]] for c in changes])
    elif version.status != "rejected":
        print("  no change in effective access")
    if version.out_of_date:
        print("out of date: another policy went live since this proposal, so this change "
              "is not what approving it would do and the gateway refuses to; roll the "
              "folder out again to see its current effect")
    elif version.status == "pending":
        print(f"pending: ask a second security officer to check it with `credgate policy "
              f"show {version.id}` and approve it with `credgate policy approve "
              f"{version.id}`")


def run_rollout(args: argparse.Namespace) -> int:
    """Propose a folder."""
    if not args.directory.is_dir():
        raise CliError(f"{args.directory} is not a folder")
    with connect(args) as client:
        version = client.propose_policy(read_bundle(args.directory))
    _show(version, args.json)
    return EXIT_REFUSED if version.status == "rejected" else EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Show one version in full."""
    with connect(args) as client:
        reply = client.policy_admin.ListPolicyVersions(
            pb.ListPolicyVersionsRequest(limit=SHOW_LIMIT), timeout=30)
    found = [v for v in reply.versions if v.id == args.id]
    if not found:
        newest = reply.versions[0].id if reply.versions else 0
        raise CliError(f"no policy version {args.id} (the newest is {newest}; "
                       "`credgate policy versions` lists them)")
    _show(found[0], args.json, full=True)
    return EXIT_OK


def run_approve(args: argparse.Namespace) -> int:
    """Approve a pending version."""
    with connect(args) as client:
        version = client.policy_admin.ApprovePolicy(
            pb.ApprovePolicyRequest(id=args.id, comment=args.comment), timeout=120)
    _show(version, args.json)
    return EXIT_OK


def run_reject(args: argparse.Namespace) -> int:
    """Reject a pending version."""
    with connect(args) as client:
        version = client.policy_admin.RejectPolicy(
            pb.RejectPolicyRequest(id=args.id, comment=args.comment), timeout=60)
    _show(version, args.json)
    return EXIT_OK


def run_versions(args: argparse.Namespace) -> int:
    """List versions."""
    with connect(args) as client:
        reply = client.policy_admin.ListPolicyVersions(
            pb.ListPolicyVersionsRequest(limit=args.limit), timeout=30)
    if args.json:
        print_json([version_json(v) for v in reply.versions])
        return EXIT_OK
    print_table(["id", "status", "proposed by", "proposed", "decided by", "decided",
                 "version"],
                [[v.id, status_words(v), v.author, v.proposed_at, v.approver or "-",
                  v.decided_at or "-", v.version[:12]] for v in reply.versions])
    return EXIT_OK
