"""What every servicer shares: error-to-status mapping and the audited request frame.

A servicer runs its steps inside `audited_call`. Whatever happens (allowed, refused,
crashed), an audit entry is appended before the caller hears anything (a stream appends
one per batch); if that append fails the caller gets UNAVAILABLE and no data.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context

from gateway.access_log import record_access
from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.audit.draft import AuditDraft
from gateway.audit.shared import RequestReplayed
from gateway.catalogue.registry import Catalogue, Party
from gateway.consent.artefacts import VerifiedConsent
from gateway.errors import (
    AuditUnavailable,
    ConfigurationError,
    CredgateError,
    QuotaExceeded,
)
from gateway.identify.caller import check_caller
from gateway.identify.certificate import identify
from gateway.identify.request_signing import (
    RequestSignature,
    digest_of_audit_text,
    replayed,
)
from gateway.pii.identifiers import MalformedIdentifier, refused_value_digest
from gateway.policy.decide import PolicyEngine
from gateway.policy.limits import KINDS as LIMIT_KINDS
from gateway.policy.rollout import PolicyState
from gateway.records.changes import Change, R
from gateway.respond.answers import sign_answer
from gateway.services.staging import drop_staged, make_staged
from gateway.telemetry import NO_STEP, StepSpan, start_call_span, trace_id_of
from gateway.validate.wire import MalformedRequest, WireContext, raw_request_of

log = logging.getLogger("credgate.services")
#: The parent context of an untraced call's steps (they start no span).
_UNTRACED = Context()
#: The audit action of a request whose body did not decode (its reason names the method).
MALFORMED_ACTION = "request.malformed"


def status_of(error: CredgateError) -> grpc.StatusCode:
    """The gRPC status for a credgate error."""
    return grpc.StatusCode[error.status]


@dataclass
class CallFrame:
    """One RPC in progress: its root span, its audit draft, the gateway."""

    gw: Gateway
    span: Span
    draft: AuditDraft
    parent: Context
    #: The full gRPC method name ("/credgate.v1.QueryService/QuerySubject"), as signed.
    method: str
    #: The policy this call is decided under, taken once when the call starts.
    state: PolicyState
    #: A consent use was counted for this call (check_consent).
    consent_used: bool = False
    #: The call's allow entry has committed: from here on a consent use stays spent.
    allowed: bool = False
    #: The call staged a change for its allow entry (`stage`).
    staged: bool = False
    #: The request body exactly as received (gateway/validate/wire.py); None when the servicer
    #: was called without it. Signatures over the wire bytes verify against this.
    raw_request: bytes | None = None
    #: The call's wire context: a signed answer leaves through it as the signed bytes.
    wire: WireContext | None = None
    #: Whether the call's span records (tracing on and sampled in).
    recording: bool = False
    #: The request digest still to remember in the shared replay memory, with the
    #: call's first audit entry (identify with replay_check_at_audit).
    unclaimed_digest: str = ""

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue of this call's policy snapshot."""
        return self.state.catalogue

    @property
    def policy(self) -> PolicyEngine:
        """The policy engine of this call's snapshot."""
        return self.state.engine

    def identify(self, context: grpc.ServicerContext, *,
                 replay_check_at_audit: bool = False) -> Party:
        """The identify step (gateway/identify/caller.py): the certificate's party, its
        signature on this request, and no blacklisting; raises Unauthenticated.

        A request already served by this process is refused here. Whether another
        instance served it is asked here too, in a write of its own to the shared
        memory, or, with ``replay_check_at_audit``, in the transaction of the call's
        allow entry (no write of its own per call). Only a servicer that changes nothing
        before its allow entry but what a refused call gives back (a consent use) may
        choose the latter: a replay is then refused before anything leaves.
        """
        with self.step("identify"):
            party = self.identify_peer(context)
            caller = check_caller(
                party, dict(context.invocation_metadata()), method=self.method,
                raw_request=self.raw_request, requests=self.gw.requests,
                refuse_party=self.gw.blacklist.check, shared=not replay_check_at_audit,
                verified=functools.partial(self._note_signature,
                                           claim_at_audit=replay_check_at_audit))
        return caller.party

    def _note_signature(self, signature: RequestSignature, *, claim_at_audit: bool) -> None:
        """A verified signature goes into this call's entry, allowed or refused."""
        if claim_at_audit:
            self.unclaimed_digest = signature.digest
        self.draft.request_signature = signature.audit_text()

    def sign(self, answer: Message) -> None:
        """Sign an answer after its audit entry (gateway/respond/answers.py); fails closed."""
        key = self.gw.answer_key
        if key is None:  # Gateway.open always loads one; a hand-built gateway must too
            raise ConfigurationError("the gateway has no answer key")
        with self.step("sign"):
            wire = sign_answer(
                answer, signer=key, method=self.method, party=self.draft.requester,
                request_digest=digest_of_audit_text(self.draft.request_signature) or "",
                audit_seq=self.draft.seq, now=self.gw.clock.now())
        if self.wire is not None:
            self.wire.send_signed(answer, wire)

    def check_consent(self, consent_id: str, **terms: Any) -> VerifiedConsent:
        """The consent step: verify the consent and count one use for this request.

        The use is spent only if the call's allow entry commits; a call that fails
        before that gives it back (gateway.consent.uses). Raises ConsentRefused.
        """
        consent = self.gw.consents.check(consent_id, request_id=self.draft.request_id,
                                         **terms)
        self.consent_used = True
        self.draft.consent_id = consent.consent_id
        return consent

    def within_limits(self, party: Party) -> None:
        """The quota step (limits.toml): count this call for its party, purpose and
        subject, as the draft names them; raises QuotaExceeded (audited with reason
        `quota`, the limit as its rule) or StoreUnavailable."""
        limits = self.state.limits
        if not limits.rules:
            return
        quotas = self.gw.quotas
        if quotas is None:  # a gateway built without counters cannot hold a limit
            raise ConfigurationError("the gateway has no quota counters")
        with self.step("limits"):
            try:
                quotas.admit(limits, party, self.draft.purpose, self.draft.subject_index)
            except QuotaExceeded as err:
                self.draft.policy_rules.append(err.rule)
                self.gw.metrics.quota_refused(party=party.id, purpose=self.draft.purpose,
                                              limit=err.limit, limits=LIMIT_KINDS)
                raise

    def identify_peer(self, context: grpc.ServicerContext) -> Party:
        """The certificate's party alone (no request to verify); raises Unauthenticated."""
        party = identify(context.auth_context(), self.catalogue, self.gw.peers)
        self.draft.requester = party.id
        return party

    def step(self, name: str) -> AbstractContextManager[Span]:
        """A request-path step span under this call (use with `with`); nothing untraced."""
        if not self.recording:
            return NO_STEP
        return StepSpan(self.gw.tracer, name, self.parent)

    def stage(self, change: Change[R]) -> R:
        """The store step of a call that changes state: keep the change for this call's
        allow entry, which makes it (gateway.records.changes); what it will give.
        Raises what the change would raise now (NotFound, FailedPrecondition,
        AlreadyExists, StoreUnavailable)."""
        self.staged = True  # also when the outcome of the write is unknown: dropped then
        with self.step("stage"):
            return self.gw.store.stage_change(change, request_id=self.draft.request_id,
                                              at=self.gw.clock.now())

    def commit_allow(self, reason: str = "") -> int:
        """Append the allow entry durably (the audit step); raises AuditUnavailable."""
        return self.commit("allow", reason)

    def commit(self, decision: str, reason: str = "") -> int:
        """Append an entry for the draft as it stands (streams append one per batch)."""
        with self.step("audit"):
            entry = self.draft.entry(now=self.gw.clock.now(),
                                     policy_version=self.state.version,
                                     trace_id=trace_id_of(self.span), decision=decision,
                                     reason=reason)
            try:
                self.draft.seq = self.gw.audit.append(
                    entry, request_digest=self.unclaimed_digest,
                    refuse_replay=decision == "allow")
            except RequestReplayed:
                raise replayed() from None
            self.unclaimed_digest = ""
            self.gw.metrics.audit_appended()
        if decision == "allow" and not self.allowed:
            self.allowed = True
            if self.consent_used:
                try:
                    self.gw.consents.settle(self.draft.request_id)
                except CredgateError as err:
                    # The use is spent either way; the sweeper settles it from the log.
                    log.warning("consent use not settled: %s [trace %s]",
                                err.reason or err.status, trace_id_of(self.span))
            if self.staged:
                with self.step("apply"):
                    make_staged(self.gw, self.draft.request_id, trace_id_of(self.span))
        return self.draft.seq


@contextmanager
def audited_call(gw: Gateway, context: grpc.ServicerContext, method: str,
                 action: str) -> Iterator[CallFrame]:
    """Run one RPC: root span, audit of any refusal, safe error mapping."""
    span = start_call_span(gw.tracer_provider, gw.tracer, method)
    try:
        recording = span.is_recording()
        frame = CallFrame(gw=gw, span=span, draft=AuditDraft(action=action),
                          parent=set_span_in_context(span) if recording else _UNTRACED,
                          method=f"/{method}", state=gw.state,
                          raw_request=raw_request_of(context), recording=recording,
                          wire=context if isinstance(context, WireContext) else None)
        if recording:
            span.set_attribute("rpc.system", "grpc")
            span.set_attribute("rpc.method", method)
            if frame.raw_request is not None:
                span.set_attribute("credgate.request_bytes", len(frame.raw_request))
        began, outcome = time.perf_counter(), ("allow", "OK")
        try:
            try:
                yield frame
            except BaseException as exc:
                _undo_before_allow(frame, exc)
                raise
        except CredgateError as err:
            outcome = ("deny", status_of(err).name)
            reason = err.reason or type(err).__name__
            if isinstance(err, MalformedIdentifier):
                # The caller's bad value never enters the log; its keyed digest does.
                reason = f"{reason} {refused_value_digest(gw.keyring, err.refused_value)}"
            _refuse(frame, status_of(err), err.message, reason,
                    skip_audit=isinstance(err, AuditUnavailable))
            log.info("refused %s: %s [trace %s]", method, err.reason or err.status,
                     trace_id_of(span))
            if isinstance(err, QuotaExceeded):  # whole seconds, as HTTP's Retry-After
                context.set_trailing_metadata((("retry-after", str(err.retry_after)),))
            context.abort(status_of(err), err.message)
        except Exception as exc:
            outcome = ("error", "INTERNAL")
            log.error("internal error in %s: %s [trace %s]", method, type(exc).__name__,
                      trace_id_of(span))
            _refuse(frame, grpc.StatusCode.INTERNAL, "internal error", "internal_error",
                    skip_audit=False)
            context.abort(grpc.StatusCode.INTERNAL,
                          f"internal error (trace {trace_id_of(span)})")
        finally:
            if recording:
                span.set_attribute("credgate.requester", frame.draft.requester)
                span.set_attribute("credgate.purpose", frame.draft.purpose)
            # Only a catalogue code is written: the draft may hold the caller's own text.
            purpose = frame.draft.purpose if frame.draft.purpose in frame.catalogue.purposes \
                else ""
            seconds = time.perf_counter() - began
            record_access(method=method, party=frame.draft.requester, purpose=purpose,
                          decision=outcome[0], status=outcome[1],
                          duration_s=seconds, trace_id=trace_id_of(span))
            gw.metrics.observe_call(method=method, party=frame.draft.requester,
                                    purpose=purpose, decision=outcome[0], status=outcome[1],
                                    seconds=seconds)
    finally:
        span.end()


class Servicer(Protocol):
    """A servicer class deriving from a generated `rpc.*Servicer`, holding its gateway."""

    _gw: Gateway


_S = TypeVar("_S", bound=Servicer)
_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp")
_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def rpc_method_name(servicer: type, method: str) -> str:
    """The full gRPC name of a servicer method ("credgate.v1.QueryService/QuerySubject").

    Taken from the generated base class and the proto descriptor, never typed by hand;
    raises LookupError for a method the contract does not declare.
    """
    for base in servicer.__mro__:
        if base.__module__ == rpc.__name__ and base.__name__.endswith("Servicer"):
            service = pb.DESCRIPTOR.services_by_name[base.__name__.removesuffix("Servicer")]
            if method not in service.methods_by_name:
                raise LookupError(f"{service.full_name} declares no method {method}")
            return f"{service.full_name}/{method}"
    raise LookupError(f"{servicer.__name__} derives from no generated servicer")


#: The attribute naming a servicer method's audit action (read by the verifier's tests).
AUDITED_ACTION = "audited_action"


def audits(action: str) -> Callable[[_F], _F]:
    """Name the audit action of a servicer method; `audited` and `audited_stream` do so
    themselves, a method that runs its own `audited_call` is marked with this."""

    def mark(method: _F) -> _F:
        setattr(method, AUDITED_ACTION, action)
        return method

    return mark


def method_of(servicer: object, method: str) -> str:
    """The full gRPC name of a method of this servicer (see `rpc_method_name`)."""
    kind: type = type(servicer)
    return rpc_method_name(kind, method)


def audited(action: str) -> Callable[
        [Callable[[_S, CallFrame, _Req, grpc.ServicerContext], _Resp]],
        Callable[[_S, _Req, grpc.ServicerContext], _Resp]]:
    """Make a servicer method one audited call (`audited_call`) under the audit ``action``.

    The handler gets the call frame first; its gRPC name comes from the generated code.
    """

    def decorate(handler: Callable[[_S, CallFrame, _Req, grpc.ServicerContext], _Resp]
                 ) -> Callable[[_S, _Req, grpc.ServicerContext], _Resp]:
        @functools.wraps(handler)
        def call_rpc(self: _S, request: _Req, context: grpc.ServicerContext) -> _Resp:
            method = rpc_method_name(type(self), handler.__name__)
            with audited_call(self._gw, context, method, action) as call:
                return handler(self, call, request, context)
            raise AssertionError("unreachable: audited_call aborts on every refusal")

        return audits(action)(call_rpc)

    return decorate


def audited_stream(action: str) -> Callable[
        [Callable[[_S, CallFrame, _Req, grpc.ServicerContext], Iterator[_Resp]]],
        Callable[[_S, _Req, grpc.ServicerContext], Iterator[_Resp]]]:
    """`audited` for a server-streaming method: the whole stream runs in one audited call
    (each batch appends its own entry before it is sent)."""

    def decorate(handler: Callable[[_S, CallFrame, _Req, grpc.ServicerContext],
                                   Iterator[_Resp]]
                 ) -> Callable[[_S, _Req, grpc.ServicerContext], Iterator[_Resp]]:
        @functools.wraps(handler)
        def call_rpc(self: _S, request: _Req, context: grpc.ServicerContext
                     ) -> Iterator[_Resp]:
            method = rpc_method_name(type(self), handler.__name__)
            with audited_call(self._gw, context, method, action) as call:
                yield from handler(self, call, request, context)

        return audits(action)(call_rpc)

    return decorate


def _undo_before_allow(frame: CallFrame, error: BaseException) -> None:
    """The call failed before its allow entry committed: nothing was released, so the
    consent use it counted is given back and the change it staged dropped (if that
    fails too, the sweeper does it)."""
    if frame.allowed:
        return
    if frame.consent_used:
        try:
            frame.gw.consents.give_back(frame.draft.request_id)
        except CredgateError as err:
            log.warning("consent use not given back yet: %s [trace %s]",
                        err.reason or err.status, trace_id_of(frame.span))
    if frame.staged:
        drop_staged(frame.gw, frame.draft.request_id, error, trace_id_of(frame.span))


def refuse_malformed(gw: Gateway) -> Callable[[grpc.ServicerContext, str, MalformedRequest],
                                              None]:
    """How a body that does not decode is refused: audited, caller from mTLS, aborted."""

    def refuse(context: grpc.ServicerContext, method: str, error: MalformedRequest) -> None:
        with audited_call(gw, context, method.lstrip("/"), MALFORMED_ACTION) as call:
            with call.step("identify"):
                call.identify_peer(context)
            raise error

    return refuse


def _refuse(frame: CallFrame, status: grpc.StatusCode, message: str, reason: str, *,
            skip_audit: bool) -> None:
    frame.span.set_status(Status(StatusCode.ERROR, reason))
    frame.span.set_attribute("credgate.decision", "deny")
    frame.span.set_attribute("credgate.refusal", reason)
    if skip_audit:
        return  # the audit store itself failed: a second append would only wait and fail
    try:
        with frame.step("audit"):
            # A refused call's digest is remembered too, but never refuses its entry.
            entry = frame.draft.deny_entry(now=frame.gw.clock.now(),
                                           policy_version=frame.state.version,
                                           trace_id=trace_id_of(frame.span), reason=reason)
            frame.draft.seq = frame.gw.audit.append(entry,
                                                    request_digest=frame.unclaimed_digest)
            frame.gw.metrics.audit_appended()
    except CredgateError:
        # The refusal stands either way; the operator must hear the audit is down.
        log.error("audit append failed while refusing a call [trace %s]",
                  trace_id_of(frame.span))
    except Exception as exc:
        # Never let the refusal itself fail: the caller must still get its status.
        log.error("audit entry of a refusal could not be made: %s [trace %s]",
                  type(exc).__name__, trace_id_of(frame.span))
