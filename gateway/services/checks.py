"""CheckService: minimal-disclosure checks, a yes or no and never a record.

GreenChannelEligibility (容缺受理), JointPunishmentCheck (联合惩戒) and
IncentiveEligibility (守信激励) walk the query's request path: identify, validate,
decide (policy action `check` on every category the rule reads, for the purpose the
rule is bound to), consent (where that purpose needs it), fetch (records in use only),
audit, respond. The answer names the rule or the measure and its authority, nothing else.

A green channel or joint punishment answer that is clean here also asks the configured
peer platform (the province) within a time budget (gateway/peers/ask.py): a restriction
there restricts here; a peer that does not answer in time makes the answer INCOMPLETE,
never a silent clean one.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.sharing import PLATFORM_ROLE
from gateway.clock import city_today, local_date
from gateway.crypto.blind_index import blind_indexes
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.peers.ask import PeerVerdict, askers_of
from gateway.pii.idnumber import IdNumber, parse_id_number
from gateway.policy.conditions import ConditionContext
from gateway.records.checks import (
    green_channel_categories,
    green_channel_eligible,
    incentive_categories,
    incentive_eligible,
    measure_applies,
)
from gateway.records.fetch import records_in_use
from gateway.records.model import StoredRecord
from gateway.services.common import CallFrame, audited

CHECK_ACTION = "check"


def _purpose(call: CallFrame, requested: str, bound: str, *,
             consent_step: bool = False) -> None:
    """The stated purpose must be a known query purpose and the one the check is bound to."""
    known = call.catalogue.purposes.get(requested)
    if known is None or not known.queryable:
        raise InvalidArgument("unknown purpose code", reason="unknown_purpose")
    call.draft.purpose = requested
    if requested != bound:
        raise PermissionDenied(f"this check is made for {bound} only",
                               reason="purpose_not_bound")
    if known.consent_required and not consent_step:  # the catalogue refuses this
        raise FailedPrecondition("this check cannot be made for a purpose needing consent")


def _subject(call: CallFrame, subject_id: str) -> tuple[IdNumber, list[str]]:
    subject = parse_id_number(subject_id, today=city_today(call.gw.clock))
    indexes = blind_indexes(call.gw.keyring, subject.value)
    call.draft.subject_index = indexes[0]
    return subject, indexes


def _decide(call: CallFrame, party: str, categories: Sequence[str], purpose: str,
            subject: IdNumber, *, consent_presented: bool = False) -> None:
    """Policy must allow `check` of every category the rule reads: a partial answer could
    be wrong, so one refusal refuses the check."""
    # The party's quotas for this purpose (limits.toml) before any decision.
    call.within_limits(call.catalogue.parties[party])
    now = call.gw.clock.now()
    ctx = ConditionContext(consent_presented=consent_presented,
                           subject_age=subject.age_on(local_date(now)), now=now)
    for code in categories:
        decision = call.policy.decide(party, code, CHECK_ACTION, purpose, ctx)
        if decision.rule is not None:
            call.draft.policy_rules.append(str(decision.rule))
        if not decision.allowed:
            raise PermissionDenied("policy does not let this party make this check",
                                   reason="policy_denied")
    call.draft.categories = tuple(categories)


def _fetch(call: CallFrame, indexes: list[str], categories: Sequence[str]
           ) -> list[StoredRecord]:
    """The records in use that the check reads (every county's: a check counts them all)."""
    return records_in_use(call.gw.store, indexes, categories, city_today(call.gw.clock))


def _is_platform(call: CallFrame, party: str) -> bool:
    return PLATFORM_ROLE in call.catalogue.parties[party].roles


def _completeness(verdict: PeerVerdict) -> tuple[pb.Completeness, list[str]]:
    """The answer's completeness and the peers that did not answer (when incomplete)."""
    if verdict.complete():
        return pb.Completeness.COMPLETE, []
    return pb.Completeness.INCOMPLETE, list(verdict.unanswered)


def _reason(outcome: str, verdict: PeerVerdict) -> str:
    """The audit reason: the outcome, whether it is complete, and the peers' part."""
    parts = [outcome]
    if not verdict.complete():
        parts.append("incomplete")
    if note := verdict.audit_note():
        parts.append(note)
    return "; ".join(parts)


class CheckServicer(rpc.CheckServiceServicer):
    """GreenChannelEligibility, JointPunishmentCheck and IncentiveEligibility, audited."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("check.green_channel")
    def GreenChannelEligibility(self, call: CallFrame, request: pb.GreenChannelRequest,
                                context: grpc.ServicerContext) -> pb.GreenChannelResponse:
        """Yes or no under the catalogue's green channel rule, with the rule applied."""
        gw = self._gw
        party = call.identify(context)
        with call.step("validate"):
            rule = call.catalogue.lifecycle.green_channel
            if rule is None:
                raise FailedPrecondition("the catalogue has no green channel rule")
            _purpose(call, request.purpose, rule.purpose)
            subject, indexes = _subject(call, request.subject_id)
            categories = green_channel_categories(call.catalogue)
        with call.step("decide"):
            _decide(call, party.id, categories, rule.purpose, subject)
        with call.step("fetch"):
            eligible = green_channel_eligible(rule, call.catalogue,
                                              _fetch(call, indexes, categories),
                                              city_today(gw.clock))
        verdict = PeerVerdict()
        if eligible:  # a peer's records can only take the green channel away
            with call.step("ask_peers"):
                verdict = askers_of(gw.peer_askers).ask(
                    lambda peer, left: peer.green_channel(subject.value, timeout=left),
                    asking_party_is_platform=_is_platform(call, party.id))
            eligible = not verdict.decided_against
        completeness, unanswered = _completeness(verdict)
        seq = call.commit_allow(reason=_reason(
            f"{rule.code}: {'eligible' if eligible else 'not eligible'}", verdict))
        answer = pb.GreenChannelResponse(eligible=eligible, rule=rule.code,
                                         rule_text=rule.text(), rule_text_zh=rule.text_zh(),
                                         audit_seq=seq, completeness=completeness,
                                         unanswered_peers=unanswered)
        call.sign(answer)
        return answer

    @audited("check.joint_punishment")
    def JointPunishmentCheck(self, call: CallFrame, request: pb.JointPunishmentRequest,
                             context: grpc.ServicerContext) -> pb.JointPunishmentResponse:
        """Whether a measure restricts the person, with the measure and its authority."""
        gw = self._gw
        party = call.identify(context)
        with call.step("validate"):
            measure = call.catalogue.measures.get(request.measure)
            if measure is None:
                raise InvalidArgument("unknown measure code", reason="unknown_measure")
            _purpose(call, request.purpose, measure.purpose)
            subject, indexes = _subject(call, request.subject_id)
        with call.step("decide"):
            _decide(call, party.id, measure.categories, measure.purpose, subject)
        with call.step("fetch"):
            restricted = measure_applies(measure,
                                         _fetch(call, indexes, measure.categories),
                                         city_today(gw.clock))
        verdict = PeerVerdict()
        if not restricted:  # 一处失信，处处受限: a listing elsewhere restricts here
            with call.step("ask_peers"):
                verdict = askers_of(gw.peer_askers).ask(
                    lambda peer, left: peer.joint_punishment(subject.value, measure.code,
                                                             timeout=left),
                    asking_party_is_platform=_is_platform(call, party.id))
            restricted = verdict.decided_against
        completeness, unanswered = _completeness(verdict)
        seq = call.commit_allow(reason=_reason(
            f"{measure.code}: {'restricted' if restricted else 'not restricted'}", verdict))
        authority = call.catalogue.parties[measure.authority]
        answer = pb.JointPunishmentResponse(
            restricted=restricted, measure=measure.code, measure_name_zh=measure.name_zh,
            authority=authority.id, authority_name_zh=authority.name_zh, audit_seq=seq,
            completeness=completeness, unanswered_peers=unanswered)
        call.sign(answer)
        return answer

    @audited("check.incentive")
    def IncentiveEligibility(self, call: CallFrame, request: pb.IncentiveRequest,
                             context: grpc.ServicerContext) -> pb.IncentiveResponse:
        """Yes or no for one incentive measure, with the measure, its rule and authority."""
        gw = self._gw
        party = call.identify(context)
        with call.step("validate"):
            incentive = call.catalogue.incentives.get(request.incentive)
            if incentive is None:
                raise InvalidArgument("unknown incentive code", reason="unknown_incentive")
            _purpose(call, request.purpose, incentive.purpose, consent_step=True)
            subject, indexes = _subject(call, request.subject_id)
            categories = incentive_categories(incentive, call.catalogue)
            needs_consent = call.catalogue.purposes[incentive.purpose].consent_required
        with call.step("decide"):
            _decide(call, party.id, categories, incentive.purpose, subject,
                    consent_presented=needs_consent and bool(request.consent_id))
        with call.step("consent"):
            if needs_consent:
                # The person consents to this check over every category it reads.
                call.check_consent(
                    request.consent_id, subject=subject, grantee=party.id,
                    purpose=incentive.purpose, requested=categories, explicit=True)
        with call.step("fetch"):
            eligible = incentive_eligible(incentive, call.catalogue,
                                          _fetch(call, indexes, categories),
                                          city_today(gw.clock))
        seq = call.commit_allow(reason=f"{incentive.code}: "
                                       f"{'eligible' if eligible else 'not eligible'}")
        authority = call.catalogue.parties[incentive.authority]
        answer = pb.IncentiveResponse(
            eligible=eligible, incentive=incentive.code,
            incentive_name_zh=incentive.name_zh, rule_text=incentive.text(),
            rule_text_zh=incentive.text_zh(), authority=authority.id,
            authority_name_zh=authority.name_zh, audit_seq=seq)
        call.sign(answer)
        return answer
