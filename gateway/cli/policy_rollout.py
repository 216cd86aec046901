"""`credgate policy rollout|approve|versions`: rolling a policy out through the gateway."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import grpc

from gateway.api import pb
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    add_client_options,
    connect,
    print_json,
    print_table,
    rpc_failure,
)
from gateway.policy.rollout import read_bundle


def register_actions(sub: argparse._SubParsersAction) -> None:
    """Add the rollout actions to the `policy` command group."""
    rollout = sub.add_parser(
        "rollout", help="send a policy folder to the gateway to go live",
        description="The gateway validates the folder, runs its decision tests and "
                    "computes the access diff; only then does it swap the policy in, at "
                    "once or, under the two-person rule, after a second security "
                    "officer's `policy approve`. A rejected version leaves the running "
                    "policy in place. Exit 1 when the version is rejected.")
    rollout.add_argument("directory", type=Path, help="the policy folder to roll out")
    add_client_options(rollout)
    rollout.set_defaults(handler=run_rollout, party="security_officer")

    approve = sub.add_parser("approve", help="approve a pending version (second officer)")
    approve.add_argument("id", type=int, help="the version id from `policy versions`")
    approve.add_argument("--comment", default="", help="why (kept with the version)")
    add_client_options(approve)
    approve.set_defaults(handler=run_approve, party="security_officer_b")

    reject = sub.add_parser("reject", help="turn a pending version down (any security officer)")
    reject.add_argument("id", type=int, help="the version id from `policy versions`")
    reject.add_argument("--comment", required=True, help="why (kept with the version)")
    add_client_options(reject)
    reject.set_defaults(handler=run_reject, party="security_officer_b")

    versions = sub.add_parser("versions", help="the gateway's policy versions, newest first")
    versions.add_argument("--limit", type=int, default=20)
    add_client_options(versions)
    versions.set_defaults(handler=run_versions, party="security_officer")


def _show(version: pb.PolicyVersion, as_json: bool) -> None:
    diff = json.loads(version.diff_json or "{}")
    if as_json:
        print_json({"id": version.id, "version": version.version, "status": version.status,
                    "author": version.author, "approver": version.approver,
                    "reason": version.reason, "comment": version.comment, "diff": diff})
        return
    print(f"policy version {version.id} ({version.version[:16]}) by {version.author}: "
          f"{version.status}")
    if version.reason:
        print(f"  {version.reason}")
    if version.comment:
        print(f"  comment: {version.comment}")
    changes = [*diff.get("gained", []), *diff.get("lost", [])]
    if changes:
        print_table(["change", "party", "purpose", "object", "before", "after", "when"],
                    [[c["change"], c["party"], c["purpose"], c["object"], c["before"],
                      c["after"], c["when"]] for c in changes])
    elif version.status != "rejected":
        print("  no change in effective access")


def run_rollout(args: argparse.Namespace) -> int:
    """Propose a folder."""
    if not args.directory.is_dir():
        print(f"credgate: {args.directory} is not a folder")
        return EXIT_BROKEN
    try:
        with connect(args) as client:
            version = client.propose_policy(read_bundle(args.directory))
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    _show(version, args.json)
    return EXIT_REFUSED if version.status == "rejected" else EXIT_OK


def run_approve(args: argparse.Namespace) -> int:
    """Approve a pending version."""
    try:
        with connect(args) as client:
            version = client.policy_admin.ApprovePolicy(
                pb.ApprovePolicyRequest(id=args.id, comment=args.comment), timeout=120)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    _show(version, args.json)
    return EXIT_OK


def run_reject(args: argparse.Namespace) -> int:
    """Reject a pending version."""
    try:
        with connect(args) as client:
            version = client.policy_admin.RejectPolicy(
                pb.RejectPolicyRequest(id=args.id, comment=args.comment), timeout=60)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    _show(version, args.json)
    return EXIT_OK


def run_versions(args: argparse.Namespace) -> int:
    """List versions."""
    try:
        with connect(args) as client:
            reply = client.policy_admin.ListPolicyVersions(
                pb.ListPolicyVersionsRequest(limit=args.limit), timeout=30)
    except grpc.RpcError as err:
        return rpc_failure(err, args)
    if args.json:
        print_json([{"id": v.id, "version": v.version, "status": v.status, "author": v.author,
                     "approver": v.approver, "proposed_at": v.proposed_at, "reason": v.reason}
                    for v in reply.versions])
        return EXIT_OK
    print_table(["id", "version", "status", "author", "approver", "proposed", "reason"],
                [[v.id, v.version[:16], v.status, v.author, v.approver or "-", v.proposed_at,
                  (v.reason[:60] + "…") if len(v.reason) > 60 else (v.reason or "-")]
                 for v in reply.versions])
    return EXIT_OK
