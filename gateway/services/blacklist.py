"""BlacklistService: security officers list credit agencies that broke the rules, and lift it."""

from __future__ import annotations

import grpc
from google.protobuf.message import Message

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.catalogue.registry import Party
from gateway.clock import rfc3339
from gateway.errors import FailedPrecondition, NotFound, PermissionDenied
from gateway.records.blacklist import listable
from gateway.records.lifecycle_rows import BlacklistRow
from gateway.services.common import CallFrame, audited
from gateway.services.person import SUPERVISION_PURPOSE, is_regulator
from gateway.validate.requests import check_free_text

OFFICER_ROLE = "security_officer"
MAX_REASON_CHARS = 500


def entry_message(row: BlacklistRow) -> pb.BlacklistEntry:
    """The wire form of a listing."""
    return pb.BlacklistEntry(party=row.party, listed_at=row.listed_at, listed_by=row.listed_by,
                             reason=row.reason, lifted_at=row.lifted_at or "",
                             lifted_by=row.lifted_by, lift_reason=row.lift_reason)


class BlacklistServicer(rpc.BlacklistServiceServicer):
    """BlacklistAgency, LiftBlacklist (security officers), ListBlacklist (and regulators)."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def _officer(self, call: CallFrame, context: grpc.ServicerContext, request: Message,
                 *, regulators: bool = False) -> Party:
        party = call.identify(context)
        call.draft.purpose = SUPERVISION_PURPOSE
        with call.step("decide"):
            if OFFICER_ROLE not in party.roles and not (regulators and is_regulator(party)):
                raise PermissionDenied("the blacklist is kept by security officers",
                                       reason="not_security_officer")
        return party

    def _target(self, call: CallFrame, request: pb.BlacklistRequest) -> tuple[Party, str]:
        with call.step("validate"):
            target = call.catalogue.parties.get(request.party)
            if target is None:
                raise NotFound("no registered party with this id", reason="party_unknown")
            reason = check_free_text(request.reason, what="reason", max_chars=MAX_REASON_CHARS)
        return target, reason

    @audited("blacklist.add")
    def BlacklistAgency(self, call: CallFrame, request: pb.BlacklistRequest,
                        context: grpc.ServicerContext) -> pb.BlacklistEntry:
        """List a credit agency: from now on every call it makes is refused."""
        gw = self._gw
        officer = self._officer(call, context, request)
        target, reason = self._target(call, request)
        with call.step("decide"):
            if not listable(target):
                raise FailedPrecondition("only credit agencies can be blacklisted",
                                         reason="not_listable")
            if target.id in gw.blacklist.listed():
                raise FailedPrecondition("the party is blacklisted already",
                                         reason="already_blacklisted")
            listing = gw.blacklist.listing(call.catalogue, target.id, by=officer.id,
                                           reason=reason, at=rfc3339(gw.clock.now()))
        # Staged (the agency is refused from here on), and made by the allow entry.
        row = call.stage(listing)
        gw.blacklist.changed()
        call.commit_allow(reason=f"blacklisted {target.id}")
        gw.blacklist.changed()
        return entry_message(gw.blacklist.opened(row))

    @audited("blacklist.lift")
    def LiftBlacklist(self, call: CallFrame, request: pb.BlacklistRequest,
                      context: grpc.ServicerContext) -> pb.BlacklistEntry:
        """Lift a listing: the agency's calls are decided by policy again."""
        gw = self._gw
        officer = self._officer(call, context, request)
        target, reason = self._target(call, request)
        with call.step("decide"):
            if target.id not in gw.blacklist.listed():
                raise FailedPrecondition("the party is not blacklisted",
                                         reason="not_blacklisted")
            lifting = gw.blacklist.lifting(target.id, by=officer.id, reason=reason,
                                           at=rfc3339(gw.clock.now()))
        # Staged (the agency stays refused until it is made), and made by the allow entry.
        row = call.stage(lifting)
        call.commit_allow(reason=f"lifted {target.id}")
        gw.blacklist.changed()
        return entry_message(gw.blacklist.opened(row))

    @audited("blacklist.list")
    def ListBlacklist(self, call: CallFrame, request: pb.ListBlacklistRequest,
                      context: grpc.ServicerContext) -> pb.ListBlacklistResponse:
        """The listings in force (and the lifted ones on request)."""
        gw = self._gw
        self._officer(call, context, request, regulators=True)
        rows = gw.blacklist.entries(include_lifted=request.include_lifted)
        call.draft.record_count = len(rows)
        call.commit_allow()
        return pb.ListBlacklistResponse(entries=[entry_message(r) for r in rows])

