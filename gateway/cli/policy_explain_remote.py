"""`credgate policy explain --gateway ADDR`: ask the gateway how it decides, not a folder.

The gateway explains under the version it serves or, with --policy-version, under
another kept version (a pending proposal: what it would do). The call is the officer's
own (--as, default security_officer), signed and audited like every other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from gateway.api import pb
from gateway.cli.advice import explain_rpc_error
from gateway.cli.common import (
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_REFUSED,
    connect,
    print_json,
    server_name_of,
)
from gateway.config import default_keys_dir
from gateway.policy.explain import ExplainedDecision, ExplainedRule, ExplainRequest

__all__ = ["add_gateway_options", "explained_from_message", "run"]


def add_gateway_options(parser: argparse.ArgumentParser) -> None:
    """The options of `policy explain` that send it to a gateway."""
    parser.add_argument("--gateway", metavar="ADDR", default=None,
                        help="ask the gateway at host:port instead of reading --policies")
    parser.add_argument("--policy-version", type=int, default=0, metavar="ID",
                        help="with --gateway: decide under this kept version (a pending "
                             "proposal's id from `policy versions`; default: the live one)")
    parser.add_argument("--as", dest="caller", default="security_officer", metavar="PARTY",
                        help="with --gateway: the security officer to call as; its "
                             "certificate is keys/parties/PARTY.crt (default: %(default)s)")
    parser.add_argument("--keys", type=Path, default=default_keys_dir(),
                        help="with --gateway: keys directory written by `credgate keys init` "
                             "(default: the development keys)")
    parser.add_argument("--server-name", default=None,
                        help="with --gateway: the name the gateway's certificate must carry "
                             "(default: the address's host, or localhost for loopback)")


def _rule(message: pb.ExplainedRule) -> ExplainedRule:
    return ExplainedRule(file=message.file, line=message.line, text=message.text,
                         effect=message.effect, condition=message.condition,
                         condition_holds=message.condition_holds, decided=message.decided)


def explained_from_message(request: ExplainRequest,
                           reply: pb.ExplainDecisionResponse) -> ExplainedDecision:
    """The gateway's explanation as the one `policy explain` prints from a folder."""
    return ExplainedDecision(
        request=request, allowed=reply.allowed, reason=reply.reason,
        rule=_rule(reply.rule) if reply.HasField("rule") else None,
        role_chain=tuple(reply.role_chain), roles_held=tuple(reply.roles_held),
        object_chain=tuple(reply.object_chain),
        object_ancestors=tuple(reply.object_ancestors), release=reply.release,
        candidates=tuple(_rule(c) for c in reply.candidates),
        casbin_agrees=reply.casbin_agrees, casbin_reason=reply.casbin_reason)


def version_words(reply: pb.ExplainDecisionResponse) -> str:
    """Which version the gateway decided under, in words."""
    name = f"#{reply.version_id}" if reply.version_id else "the files it started with"
    state = "live" if reply.live else reply.version_status
    return f"{name} ({state}) {reply.version[:16]}"


def run(args: argparse.Namespace, request: ExplainRequest) -> int:
    """Ask the gateway; 0 allowed, 1 refused (or the call refused), 2 broken input."""
    # The connection options of other commands, under the names this command can spare
    # (--party here is the party whose request is explained).
    conn = argparse.Namespace(target=args.gateway, party=args.caller, keys=args.keys,
                              server_name=args.server_name or server_name_of(args.gateway),
                              purpose=args.purpose, policies=args.policies)
    asked = pb.ExplainDecisionRequest(
        party=request.party, purpose=request.purpose, object=request.obj,
        action=request.action, consent=request.consent, version_id=args.policy_version)
    if request.subject_age is not None:
        if request.subject_age < 0:
            # uint32 on the wire: a negative age would not even reach the gateway's check.
            return explain_failure("--subject-age must be 0-150")
        asked.subject_age = request.subject_age
    try:
        with connect(conn) as client:
            reply = client.policy_admin.ExplainDecision(asked, timeout=30)
    except grpc.RpcError as err:
        code, line = explain_rpc_error(err, conn)
        return explain_failure(line, code)
    explained = explained_from_message(request, reply)
    if args.json:
        print_json({**explained.to_json(), "gateway": args.gateway, "version": {
            "id": reply.version_id or None, "version": reply.version,
            "bundle_hash": reply.bundle_hash, "status": reply.version_status,
            "live": reply.live}})
    else:
        print("\n".join(explained.lines()))
        print(f"version:   {version_words(reply)} at the gateway {args.gateway}")
    return EXIT_OK if explained.allowed else EXIT_REFUSED


def explain_failure(line: str, code: int = EXIT_BROKEN) -> int:
    """Print why the gateway could not explain; returns the exit code."""
    print(f"credgate: {line}", file=sys.stderr)
    return code
