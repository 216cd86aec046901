"""Changes that take effect only with their call's allow entry (issue 11).

A call that changes stored state (a listing, a consent, an objection, a repair, a
record's state, a peer's push) *stages* the change before its allow entry and the change
is *applied* after it, so that the change and the entry commit together or not at all:

- staging runs the change's own checks under its row locks, then rolls it back and
  keeps the change in ``pending_changes`` under the call's request id. The change's
  target (the record, party, consent or peer it is about) is taken: another change of
  it is refused ("change_under_way") until this one is applied or dropped, so the
  change still applies after the entry. A record the change adds (a correction) is
  stored pending (gateway.records.lifecycle) and goes live with the change.
- nothing a reader sees changes while a change is staged; only where holding back is
  the safer side does a staged change count at once: a consent whose revocation is
  staged is not used, a party whose listing is staged is refused.
- the allow entry is the commit point: the change is applied right after it (a fault
  there does not fail the call; the sweeper applies it), and a call that fails before
  it drops what it staged.

A policy version's proposal, approval and rejection are changes too: the version in
force moves only with its allow entry.

What a crashed call leaves staged is applied or dropped by
gateway.consent.uses.OutcomeSweeper, by whether the request has an allow entry in the log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from gateway.clock import parse_rfc3339
from gateway.records.lifecycle_rows import BlacklistRow, ObjectionRow, RepairRow
from gateway.records.model import StoredRecord
from gateway.records.peer_rows import ReceivedChange
from gateway.records.sql_policy import PolicyVersionRecord
from gateway.records.sql_rows import record_from_row, record_params
from gateway.records.store import ConsentRow

# The kinds of change, by the audit action that makes them.
REMOVE_RECORD = "record.remove"
REVISE_RECORD = "record.revise"
FILE_OBJECTION = "objection.file"
ANSWER_OBJECTION = "objection.answer"
APPLY_REPAIR = "repair.apply"
DECIDE_REPAIR = "repair.decide"
BLACKLIST = "blacklist.add"
LIFT_BLACKLIST = "blacklist.lift"
ISSUE_CONSENT = "consent.issue"
REVOKE_CONSENT = "consent.revoke"
RECEIVE = "peer.receive"
PROPOSE_POLICY = "policy.propose"
APPROVE_POLICY = "policy.approve"
REJECT_POLICY = "policy.reject"
ANSWER_ONCE = "record.answer"
KINDS = (REMOVE_RECORD, REVISE_RECORD, FILE_OBJECTION, ANSWER_OBJECTION, APPLY_REPAIR,
         DECIDE_REPAIR, BLACKLIST, LIFT_BLACKLIST, ISSUE_CONSENT, REVOKE_CONSENT, RECEIVE,
         PROPOSE_POLICY, APPROVE_POLICY, REJECT_POLICY, ANSWER_ONCE)

_BYTES = "$b"
_PARTY = "party:"
#: Policy versions change one at a time (their ids and the head are the platform's).
_POLICY = "policy:versions"
#: What a change gives when it is made (the row as changed, a count).
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Change(Generic[R]):
    """One state change of a call: its kind, what it takes, and its arguments; making it
    gives an R (staging gives the R it will give)."""

    kind: str
    #: What the change is about, taken while it is staged ("record:<id>", "party:<id>",
    #: "consent:<id>", "peer:<id>"): one staged change per target.
    target: str
    #: The change's arguments, as the store applies them (JSON with bytes).
    args: Mapping[str, Any]
    #: A record the change adds (a correction): stored pending while the change is.
    record: StoredRecord | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return f"Change(kind={self.kind!r}, target={self.target!r})"


@dataclass(frozen=True, slots=True)
class StagedChange:
    """A change kept in the store until its call's allow entry (or the sweeper) decides."""

    change: Change[Any]
    request_id: str
    #: When it was staged (RFC 3339, as stored).
    since: str

    @property
    def staged_at(self) -> datetime:
        """When it was staged."""
        return parse_rfc3339(self.since)


def record_target(record_id: str) -> str:
    """The target of a change to a record (its objections and repairs included)."""
    return f"record:{record_id}"


def remove_record(record_id: str, *, at: str, reason: str) -> Change[StoredRecord]:
    """The provider removes a record shown until removal (RemoveRecord)."""
    return Change(REMOVE_RECORD, record_target(record_id),
                  {"record_id": record_id, "at": at, "reason": reason})


def revise_record(record_id: str, *, at: str, reason: str,
                  correction: StoredRecord | None) -> Change[StoredRecord]:
    """The provider corrects (a new version) or withdraws its own record (ReviseRecord)."""
    return Change(REVISE_RECORD, record_target(record_id),
                  {"record_id": record_id, "at": at, "reason": reason,
                   "correction": correction.record_id if correction else ""},
                  record=correction)


def file_objection(row: ObjectionRow) -> Change[None]:
    """An objection to a record (FileObjection, or one a peer forwards here)."""
    return Change(FILE_OBJECTION, record_target(row.record_id), _fields(row))


def answer_objection(row: ObjectionRow, *, outcome: str, at: str, by: str,
                     answer_ciphertext: bytes, correction: StoredRecord | None
                     ) -> Change[ObjectionRow]:
    """The provider's answer to an open objection (AnswerObjection)."""
    return Change(ANSWER_OBJECTION, record_target(row.record_id),
                  {"objection_id": row.objection_id, "outcome": outcome, "at": at, "by": by,
                   "answer_ciphertext": answer_ciphertext,
                   "correction": correction.record_id if correction else ""},
                  record=correction)


def apply_repair(row: RepairRow) -> Change[None]:
    """A person's application for repair of a record (ApplyRepair)."""
    return Change(APPLY_REPAIR, record_target(row.record_id), _fields(row))


def decide_repair(row: RepairRow, *, approve: bool, at: str, by: str,
                  decision_ciphertext: bytes) -> Change[RepairRow]:
    """The approver's decision on a repair application (DecideRepair)."""
    return Change(DECIDE_REPAIR, record_target(row.record_id),
                  {"repair_id": row.repair_id, "approve": approve, "at": at, "by": by,
                   "decision_ciphertext": decision_ciphertext})


def answer_once(target_id: str, answer_id: str) -> Change[None]:
    """An answer to a record answered once (gateway.records.answered_once), stored pending
    by its call: made live only while no other answer to the record is, the record taken
    meanwhile so that two answers cannot race."""
    return Change(ANSWER_ONCE, record_target(target_id),
                  {"target_id": target_id, "answer_id": answer_id})


def blacklist(row: BlacklistRow) -> Change[BlacklistRow]:
    """A party put on the blacklist (BlacklistAgency)."""
    return Change(BLACKLIST, _PARTY + row.party, _fields(row))


def lift_blacklist(party: str, *, at: str, by: str, reason: str) -> Change[BlacklistRow]:
    """A party's listing lifted (LiftBlacklist)."""
    return Change(LIFT_BLACKLIST, _PARTY + party,
                  {"party": party, "at": at, "by": by, "reason": reason})


def party_of(target: str) -> str:
    """The party a listing's or a lift's target names."""
    return target.removeprefix(_PARTY)


def issue_consent(row: ConsentRow) -> Change[bool]:
    """A consent artefact registered (IssueConsent)."""
    return Change(ISSUE_CONSENT, f"consent:{row.consent_id}", _fields(row))


def revoke_consent(consent_id: str, *, at: str, reason: str) -> Change[ConsentRow]:
    """A consent revoked by its issuer (RevokeConsent)."""
    return Change(REVOKE_CONSENT, f"consent:{consent_id}",
                  {"consent_id": consent_id, "at": at, "reason": reason})


def receive(origin: str, changes: Sequence[ReceivedChange]) -> Change[int]:
    """A peer's push of changes to the records it shares (PushChanges)."""
    return Change(RECEIVE, f"peer:{origin}",
                  {"origin": origin, "changes": [_received(c) for c in changes]})


def propose_policy(*, version: str, bundle_hash: str, author: str, proposed_at: str,
                   status: str, over_bundle: str, approver: str = "", decided_at: str = "",
                   reason: str = "", diff: Mapping[str, object] | None = None
                   ) -> Change[PolicyVersionRecord]:
    """A policy version recorded, and made the one in force when active (ProposePolicy)."""
    return Change(PROPOSE_POLICY, _POLICY, {
        "version": version, "bundle_hash": bundle_hash, "author": author,
        "proposed_at": proposed_at, "status": status, "over_bundle": over_bundle,
        "approver": approver, "decided_at": decided_at, "reason": reason,
        "diff": dict(diff or {})})


def approve_policy(version_id: int, *, approver: str, at: str, over_bundle: str,
                   comment: str = "") -> Change[PolicyVersionRecord]:
    """A pending version made the one in force by a second officer (ApprovePolicy)."""
    return Change(APPROVE_POLICY, _POLICY, {
        "version_id": version_id, "approver": approver, "at": at,
        "over_bundle": over_bundle, "comment": comment})


def reject_policy(version_id: int, *, at: str, reason: str, comment: str
                  ) -> Change[PolicyVersionRecord]:
    """A pending version turned down (RejectPolicy)."""
    return Change(REJECT_POLICY, _POLICY, {
        "version_id": version_id, "at": at, "reason": reason, "comment": comment})


def _fields(row: Any) -> dict[str, Any]:
    return asdict(row)


def _received(change: ReceivedChange) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": change.seq, "origin_record_id": change.origin_record_id,
                           "state": change.state, "at": change.at, "reason": change.reason,
                           "record": None}
    if change.record is not None:
        # The record in its column order (as stored), and its disputed mark last.
        out["record"] = [*record_params(change.record), change.record.disputed]
    return out


def received_changes(args: Mapping[str, Any]) -> list[ReceivedChange]:
    """The peer's changes of a staged RECEIVE change, as the store applies them."""
    return [ReceivedChange(seq=int(c["seq"]), origin_record_id=c["origin_record_id"],
                           record=record_from_row(c["record"]) if c["record"] else None,
                           state=c["state"], at=c["at"], reason=c["reason"])
            for c in args["changes"]]


def encode_args(args: Mapping[str, Any]) -> str:
    """A change's arguments as stored (JSON; bytes as base64 under "$b")."""
    return json.dumps(_tagged(args), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))


def decode_args(text: str) -> dict[str, Any]:
    """A change's arguments from their stored form."""
    return dict(json.loads(text, object_hook=_untag))


def _tagged(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tagged(v) for v in value]
    return value


def _untag(value: dict[str, Any]) -> Any:
    if set(value) == {_BYTES}:
        return base64.b64decode(value[_BYTES])
    return value
