"""The console's only way to the gateway: gRPC calls as the officer's own party.

Nothing here widens what the gateway trusts: every call is the officer's, signed with the
officer's key over the officer's mTLS channel, and the gateway decides as for any client.
Failures become ``GatewayFailure`` with a sentence for people; no traceback reaches a page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api import pb
from gateway.client import CredgateClient

MAX_COLLECT = 5000  # entries one search gathers (totals above it are shown as "more than")
_PAGE = 1000

_WORDS = {
    grpc.StatusCode.PERMISSION_DENIED: "The gateway refused: your party may not do this. "
                                       "网关拒绝：本机构无此权限。",
    grpc.StatusCode.UNAUTHENTICATED: "The gateway does not know this console's certificate. "
                                     "网关不认可本控制台的证书。",
    grpc.StatusCode.INVALID_ARGUMENT: "The gateway found the input not valid. 网关认为输入无效。",
    grpc.StatusCode.FAILED_PRECONDITION: "The gateway cannot do this now. 网关当前无法执行此操作。",
    grpc.StatusCode.UNAVAILABLE: "The gateway cannot be reached or is not serving. "
                                 "无法连接网关或网关未在服务。",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The gateway did not answer in time. 网关未及时响应。",
    grpc.StatusCode.NOT_FOUND: "The gateway has no such item. 网关无此项。",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "The gateway is busy or the answer is too large. "
                                        "网关繁忙或结果过大。",
    grpc.StatusCode.DATA_LOSS: "The gateway found its evidence damaged. 网关发现其证据已损坏。",
}


class GatewayFailure(Exception):
    """A gateway call failed; ``words`` says so for people, ``code`` names the status."""

    def __init__(self, words: str, code: str = "", detail: str = "") -> None:
        super().__init__(words)
        self.words = words
        self.code = code
        self.detail = detail


def _failure(err: grpc.RpcError) -> GatewayFailure:
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    # The gateway's messages never carry personal data or caller text, so they may show.
    detail = err.details() if hasattr(err, "details") else ""
    words = _WORDS.get(code, "The gateway could not complete the request. 网关未能完成请求。")
    return GatewayFailure(words, code.name if code else "UNKNOWN", detail or "")


@dataclass(frozen=True)
class SearchFilter:
    """What the regulator searches the log by (the ID number never leaves this object)."""

    requester: str = ""
    purpose: str = ""
    decision: str = ""
    action: str = ""
    time_from: str = ""
    time_to: str = ""
    subject_id: str = ""

    def described(self) -> list[tuple[str, str]]:
        """The filter as (label key, value) pairs; a subject is named, never shown."""
        out = [(k, getattr(self, k)) for k in ("requester", "purpose", "decision", "action",
                                               "time_from", "time_to") if getattr(self, k)]
        if self.subject_id:
            out.append(("subject", "•••"))
        return out


@dataclass(frozen=True)
class Collected:
    """Entries that matched a search, and whether there were more than were gathered."""

    entries: tuple[pb.AuditEntry, ...]
    truncated: bool


@dataclass(frozen=True)
class Health:
    """What the gateway's health service said."""

    serving: bool
    status: str


ProofHook = Callable[[Any], Any]


class ConsoleBackend:
    """Calls the gateway as one party; the hooks let a test alter what comes back."""

    def __init__(self, client: CredgateClient, *, target: str) -> None:
        self.client = client
        self.target = target
        self.party = client.credentials.party
        # Test hooks: see what the browser says when the console is handed bad evidence.
        self.inclusion_hook: ProofHook | None = None
        self.consistency_hook: ProofHook | None = None

    def close(self) -> None:
        """Close the channel."""
        self.client.close()

    def _call(self, fn: Callable[..., Any], request: Any, timeout: float = 30.0) -> Any:
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as err:
            raise _failure(err) from None

    # -- both roles ----------------------------------------------------------------

    def health(self) -> Health:
        """The gateway's overall health (grpc.health.v1), never raising."""
        stub = health_pb2_grpc.HealthStub(self.client.channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        except grpc.RpcError as err:
            return Health(serving=False, status=_failure(err).words)
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return Health(serving=reply.status == health_pb2.HealthCheckResponse.SERVING,
                      status=name)

    # -- the regulator's log ---------------------------------------------------------

    def collect(self, flt: SearchFilter, *, limit: int = MAX_COLLECT) -> Collected:
        """Every matching entry up to ``limit``, gathered page by page."""
        entries: list[pb.AuditEntry] = []
        token = ""
        while True:
            reply = self._call(self.client.audit.ListAuditEntries, pb.ListAuditEntriesRequest(
                requester=flt.requester, purpose=flt.purpose, decision=flt.decision,
                action=flt.action, time_from=flt.time_from, time_to=flt.time_to,
                subject_id=flt.subject_id, page_size=_PAGE, page_token=token))
            entries.extend(reply.entries)
            token = reply.next_page_token
            if len(entries) >= limit:
                return Collected(tuple(entries[:limit]), truncated=True)
            if not token:
                return Collected(tuple(entries), truncated=False)

    def entry(self, seq: int) -> pb.AuditEntry:
        """One entry by its sequence number (through the export of a one-entry range)."""
        lines: list[bytes] = []
        try:
            for chunk in self.client.audit.ExportAudit(
                    pb.ExportAuditRequest(start_seq=seq, end_seq=seq), timeout=30):
                lines.extend(chunk.jsonl.splitlines())
        except grpc.RpcError as err:
            raise _failure(err) from None
        if len(lines) < 2:
            raise GatewayFailure("The gateway returned no such entry. 网关无此日志条目。")
        canonical = lines[1]
        data = json.loads(canonical)
        return pb.AuditEntry(
            seq=seq, canonical=canonical, time=data.get("time", ""),
            requester=data.get("requester", ""), action=data.get("action", ""),
            purpose=data.get("purpose", ""), subject_index=data.get("subject_index", ""),
            decision=data.get("decision", ""), reason=data.get("reason", ""),
            consent_id=data.get("consent_id", ""), categories=data.get("categories", []),
            fields_released=data.get("fields_released", []),
            policy_rule=data.get("policy_rule", ""),
            policy_version=data.get("policy_version", ""), trace_id=data.get("trace_id", ""),
            request_signature=data.get("request_signature", ""))

    def inclusion_proof(self, seq: int) -> Any:
        """The inclusion proof of one entry in the latest signed tree, with its checkpoint."""
        reply = self._call(self.client.audit.GetInclusionProof,
                           pb.InclusionProofRequest(seq=seq))
        return self.inclusion_hook(reply) if self.inclusion_hook else reply

    def checkpoint(self, *, fresh: bool = False) -> Any:
        """The latest signed checkpoint (or a freshly signed one)."""
        return self._call(self.client.audit.GetCheckpoint, pb.GetCheckpointRequest(fresh=fresh))

    def consistency_proof(self, old_size: int, new_size: int) -> Any:
        """The consistency proof between two tree sizes."""
        reply = self._call(self.client.audit.GetConsistencyProof,
                           pb.ConsistencyProofRequest(old_size=old_size, new_size=new_size))
        return self.consistency_hook(reply) if self.consistency_hook else reply

    def supervision_figures(self) -> Any:
        """The gateway's supervision figures (`credgate report supervision`, over gRPC)."""
        return self._call(self.client.audit.SupervisionFigures,
                          pb.SupervisionFiguresRequest(), timeout=120)

    # -- the security officer's policy -------------------------------------------------

    def versions(self, limit: int = 100) -> list[Any]:
        """The policy versions, newest first."""
        return list(self._call(self.client.policy_admin.ListPolicyVersions,
                               pb.ListPolicyVersionsRequest(limit=limit)).versions)

    def approve(self, version_id: int, comment: str = "") -> Any:
        """Approve a pending version as this officer (the gateway refuses its author)."""
        return self._call(self.client.policy_admin.ApprovePolicy,
                          pb.ApprovePolicyRequest(id=version_id, comment=comment), timeout=120)

    def explain(self, *, party: str, purpose: str, obj: str, action: str, consent: bool,
                subject_age: int | None, version_id: int = 0) -> Any:
        """How the gateway decides one request, under the live version (0) or a kept one."""
        request = pb.ExplainDecisionRequest(party=party, purpose=purpose, object=obj,
                                            action=action, consent=consent,
                                            version_id=version_id)
        if subject_age is not None:
            request.subject_age = subject_age
        return self._call(self.client.policy_admin.ExplainDecision, request)

    def reject(self, version_id: int, comment: str) -> Any:
        """Turn a pending version down as this officer, saying why."""
        return self._call(self.client.policy_admin.RejectPolicy,
                          pb.RejectPolicyRequest(id=version_id, comment=comment), timeout=60)
