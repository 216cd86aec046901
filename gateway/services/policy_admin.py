"""PolicyAdmin: security officers propose, approve, review and explain policy versions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import grpc
from google.protobuf.message import Message

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Party
from gateway.errors import CredgateError, FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.policy.explain import (
    ExplainedDecision,
    ExplainedRule,
    ExplainRequest,
    PolicySetCache,
    explain_decision,
    unknown_names,
)
from gateway.policy.rollout import PolicyRollout, PolicyVersionRecord, read_bundle
from gateway.records.changes import Change
from gateway.services.common import CallFrame, audited
from gateway.services.person import SUPERVISION_PURPOSE
from gateway.services.staging import drop_staged, make_staged
from gateway.validate.requests import holds_personal_number

OFFICER_ROLE = "security_officer"


def version_message(record: PolicyVersionRecord, *, out_of_date: bool = False
                    ) -> pb.PolicyVersion:
    """The wire form of a policy version."""
    return pb.PolicyVersion(
        id=record.id, version=record.version, bundle_hash=record.bundle_hash,
        author=record.author, proposed_at=record.proposed_at, status=record.status,
        approver=record.approver, decided_at=record.decided_at, reason=record.reason,
        diff_json=json.dumps(record.diff, ensure_ascii=False, sort_keys=True),
        comment=record.comment, out_of_date=out_of_date)


def _rule_message(rule: ExplainedRule) -> pb.ExplainedRule:
    return pb.ExplainedRule(file=rule.file, line=rule.line, text=rule.text, effect=rule.effect,
                            condition=rule.condition, condition_holds=rule.condition_holds,
                            decided=rule.decided)


def explanation_message(ex: ExplainedDecision) -> pb.ExplainDecisionResponse:
    """The wire form of an explanation (the version it was decided under is added)."""
    return pb.ExplainDecisionResponse(
        allowed=ex.allowed, reason=ex.reason,
        rule=None if ex.rule is None else _rule_message(ex.rule), release=ex.release,
        role_chain=ex.role_chain, roles_held=ex.roles_held, object_chain=ex.object_chain,
        object_ancestors=ex.object_ancestors,
        candidates=[_rule_message(c) for c in ex.candidates],
        casbin_agrees=ex.casbin_agrees, casbin_reason=ex.casbin_reason)


class PolicyAdminServicer(rpc.PolicyAdminServicer):
    """Every call is audited; only security officers get through."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._policies = PolicySetCache()

    def _officer(self, call: CallFrame, context: grpc.ServicerContext,
                 request: Message) -> tuple[Party, PolicyRollout]:
        party = call.identify(context)
        call.draft.purpose = SUPERVISION_PURPOSE
        with call.step("decide"):
            if OFFICER_ROLE not in party.roles:
                raise PermissionDenied("policy administration is for security officers",
                                       reason="not_security_officer")
            if self._gw.rollout is None:
                raise FailedPrecondition("policy rollout is not available")
        return party, self._gw.rollout

    def _decide(self, call: CallFrame, request: pb.ApprovePolicyRequest | pb.RejectPolicyRequest,
                context: grpc.ServicerContext,
                decision: Callable[[PolicyRollout, str, int, str],
                                   Change[PolicyVersionRecord]]
                ) -> pb.PolicyVersion:
        """An officer's approval or rejection of a pending version, with its comment:
        staged, made by the allow entry (gateway.records.changes), then served here."""
        party, rollout = self._officer(call, context, request)
        with call.step("validate"):
            change = decision(rollout, party.id, request.id, checked_comment(request.comment))
        record = call.stage(change)
        call.commit_allow(reason=outcome(record))
        rollout.serve_head()
        return version_message(record)

    @audited("policy.propose")
    def ProposePolicy(self, call: CallFrame, request: pb.ProposePolicyRequest,
                      context: grpc.ServicerContext) -> pb.PolicyVersion:
        """Validate, test and diff a bundle; activate it or leave it for approval."""
        party, rollout = self._officer(call, context, request)
        with call.step("validate"):
            change = rollout.proposal(party.id, {f.name: f.content for f in request.files})
        # Staged, and made by the allow entry (gateway.records.changes), which says what
        # became of the proposal; the rejection reasons name policy files and lines,
        # never personal data.
        record = call.stage(change)
        call.commit_allow(reason=outcome(record))
        rollout.serve_head()
        return version_message(record)

    @audited("policy.approve")
    def ApprovePolicy(self, call: CallFrame, request: pb.ApprovePolicyRequest,
                      context: grpc.ServicerContext) -> pb.PolicyVersion:
        """A second security officer activates a pending version."""
        return self._decide(call, request, context, PolicyRollout.approval)

    @audited("policy.reject")
    def RejectPolicy(self, call: CallFrame, request: pb.RejectPolicyRequest,
                     context: grpc.ServicerContext) -> pb.PolicyVersion:
        """A security officer turns a pending version down, with a comment."""
        return self._decide(call, request, context, PolicyRollout.rejection)

    @audited("policy.list")
    def ListPolicyVersions(self, call: CallFrame, request: pb.ListPolicyVersionsRequest,
                           context: grpc.ServicerContext) -> pb.ListPolicyVersionsResponse:
        """The version history, newest first."""
        _, rollout = self._officer(call, context, request)
        records = rollout.versions(min(request.limit or 100, 1000))
        call.commit_allow()
        return pb.ListPolicyVersionsResponse(versions=[
            version_message(r, out_of_date=rollout.out_of_date(r)) for r in records])

    @audited("policy.explain")
    def ExplainDecision(self, call: CallFrame, request: pb.ExplainDecisionRequest,
                        context: grpc.ServicerContext) -> pb.ExplainDecisionResponse:
        """How one request is decided under the live version or a kept one, explained."""
        _, rollout = self._officer(call, context, request)
        with call.step("validate"):
            record: PolicyVersionRecord | None
            if request.version_id:
                record, folder = rollout.version_folder(request.version_id)
            else:
                # The policy this very call is decided under: what the gateway serves.
                record, folder = rollout.live_record(call.state), call.state.directory
            policy = self._policies.get(folder)
            asked = ExplainRequest(
                party=request.party, purpose=request.purpose, obj=request.object,
                action=request.action or "read", consent=request.consent,
                subject_age=request.subject_age if request.HasField("subject_age") else None)
            unknown = unknown_names(policy, asked, quote=False)
            if unknown:
                raise InvalidArgument("; ".join(unknown), reason="unknown_code")
        with call.step("decide"):
            explained = explain_decision(policy, asked)
        live = folder == call.state.directory
        version_id = record.id if record is not None else 0
        # Codes only (checked above): what was explained, under which version, and how.
        call.commit_allow(reason=(
            f"policy {version_id} {policy.engine.version[:16]}{' live' if live else ''}: "
            f"{asked.party} {asked.action} {asked.obj} for {asked.purpose}"
            f"{' with consent' if asked.consent else ''} "
            f"{'allow' if explained.allowed else 'deny'}"))
        answer = explanation_message(explained)
        answer.version_id = version_id
        answer.version = policy.engine.version
        answer.bundle_hash = folder.name
        answer.version_status = record.status if record is not None else "active"
        answer.live = live
        return answer


MAX_COMMENT = 500


def checked_comment(comment: str) -> str:
    """An officer's comment as kept; raises InvalidArgument (quoting nothing) if unfit.

    The comment is kept with the version, not in the audit log; still, a person's ID,
    mobile or card number has no place in it.
    """
    if len(comment) > MAX_COMMENT:
        raise InvalidArgument(f"the comment is longer than {MAX_COMMENT} characters")
    if holds_personal_number(comment) or any(ord(c) < 32 and c not in "\n\t" for c in comment):
        raise InvalidArgument("the comment may not hold an ID, mobile or card number "
                              "or control characters")
    return comment


def outcome(record: PolicyVersionRecord) -> str:
    """What became of a proposal, as its audit entry says it (no personal data)."""
    return f"policy {record.id} {record.status} {record.version[:16]}"


def reload_from_files(gw: Gateway, *, author: str = "operator:SIGHUP") -> PolicyVersionRecord:
    """Roll out the files of the configured policies folder (SIGHUP), audited like a call."""
    if gw.rollout is None:
        raise FailedPrecondition("policy rollout is not available")
    before = gw.state.version

    def audit(decision: str, reason: str, request_id: str) -> None:
        gw.audit.append(AuditEntry(
            time=gw.clock.now(), trace_id="", requester=author, action="policy.reload",
            purpose=SUPERVISION_PURPOSE, subject_index="", categories=(), fields_released=(),
            consent_id="", policy_rule="", policy_version=before, decision=decision,
            reason=reason, request_id=request_id, record_count=0))

    request_id = f"reload-{uuid.uuid4()}"
    try:
        change = gw.rollout.proposal(author, read_bundle(gw.config.policies_dir))
        # Staged, and made by the allow entry (gateway.records.changes).
        record = gw.store.stage_change(change, request_id=request_id, at=gw.clock.now())
    except Exception as exc:
        # A reload refused before any version was recorded (a malformed bundle, a file
        # that is not UTF-8) is a decision too.
        reason = exc.reason if isinstance(exc, CredgateError) else ""
        audit("deny", reason or type(exc).__name__, request_id)
        raise
    try:
        audit("allow", outcome(record), request_id)
    except BaseException as exc:
        drop_staged(gw, request_id, exc)
        raise
    make_staged(gw, request_id)
    gw.rollout.serve_head()
    return record
