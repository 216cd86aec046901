"""Re-verifying the callers' request signatures that audit entries keep.

An entry of a signed call keeps ``request_signature`` ("v2 <time> <digest> <sig>"): the
caller's signature over (method, party, time, digest) (gateway.identify.request_signing; entries of
the retired scheme v1 read "v1 ..." and signed (method, time, digest)). With the
parties' registered public keys anyone can check it again, so forging an entry that
names a party needs that party's private key, not just write access to the log.

The entry names its action ("query.subject"), not the gRPC method the caller signed.
`ACTION_METHODS` says which method each action belongs to. It is a table of its own, so
that the offline verifier needs no server code; a test holds it equal to what the
servicers declare. An action not in it (an older log's) is tried against every method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gateway.audit.entry import AuditEntry
from gateway.crypto.signatures import PartyVerifyKey as VerifyKey
from gateway.errors import BadSignature, CredgateError

#: Each audited action and the gRPC method(s) whose calls it records: callers sign the
#: full gRPC path, with its leading slash. The servicers declare the same pairs in their
#: decorators (gateway/services/common.py); tests/services/test_audited.py holds them equal.
ACTION_METHODS: Mapping[str, tuple[str, ...]] = {
    "alert.ack": ("/credgate.v1.SupervisionService/AckAlert",),
    "alerts.watch": ("/credgate.v1.SupervisionService/WatchAlerts",),
    "audit.checkpoint": ("/credgate.v1.AuditService/GetCheckpoint",),
    "audit.consistency_proof": ("/credgate.v1.AuditService/GetConsistencyProof",),
    "audit.export": ("/credgate.v1.AuditService/ExportAudit",),
    "audit.inclusion_proof": ("/credgate.v1.AuditService/GetInclusionProof",),
    "audit.list": ("/credgate.v1.AuditService/ListAuditEntries",),
    "audit.supervision": ("/credgate.v1.AuditService/SupervisionFigures",),
    "audit.tile": ("/credgate.v1.AuditService/GetTile",),
    "blacklist.add": ("/credgate.v1.BlacklistService/BlacklistAgency",),
    "blacklist.lift": ("/credgate.v1.BlacklistService/LiftBlacklist",),
    "blacklist.list": ("/credgate.v1.BlacklistService/ListBlacklist",),
    "check.green_channel": ("/credgate.v1.CheckService/GreenChannelEligibility",),
    "check.incentive": ("/credgate.v1.CheckService/IncentiveEligibility",),
    "check.joint_punishment": ("/credgate.v1.CheckService/JointPunishmentCheck",),
    "complaint.answer": ("/credgate.v1.ComplaintService/AnswerComplaint",),
    "complaint.list": ("/credgate.v1.ComplaintService/ListComplaints",),
    "consent.issue": ("/credgate.v1.ConsentService/IssueConsent",),
    "consent.revoke": ("/credgate.v1.ConsentService/RevokeConsent",),
    "decisions.declare": ("/credgate.v1.SupervisionService/DeclareDecisions",),
    "disclosure.export": ("/credgate.v1.DisclosureService/ExportDisclosure",),
    "disclosure.feed": ("/credgate.v1.DisclosureService/PublicDisclosure",),
    "extension.answer": ("/credgate.v1.ExtensionService/AnswerExtension",),
    "extension.list": ("/credgate.v1.ExtensionService/ListExtensions",),
    "objection.answer": ("/credgate.v1.ObjectionService/AnswerObjection",),
    "objection.file": ("/credgate.v1.ObjectionService/FileObjection",),
    "objection.forwarded": ("/credgate.v1.PeerService/ForwardObjection",),
    "objection.list": ("/credgate.v1.ObjectionService/ListObjections",),
    "objection.status": ("/credgate.v1.PeerService/ObjectionStatus",),
    "peer.receive": ("/credgate.v1.PeerService/PushChanges",),
    "policy.approve": ("/credgate.v1.PolicyAdmin/ApprovePolicy",),
    "policy.explain": ("/credgate.v1.PolicyAdmin/ExplainDecision",),
    "policy.list": ("/credgate.v1.PolicyAdmin/ListPolicyVersions",),
    "policy.propose": ("/credgate.v1.PolicyAdmin/ProposePolicy",),
    "policy.reject": ("/credgate.v1.PolicyAdmin/RejectPolicy",),
    "query.subject": ("/credgate.v1.QueryService/QuerySubject",),
    "record.remove": ("/credgate.v1.RemovalService/RemoveRecord",),
    "record.revise": ("/credgate.v1.RemovalService/ReviseRecord",),
    "records.submit": ("/credgate.v1.RecordService/SubmitRecords",),
    "repair.apply": ("/credgate.v1.RepairService/ApplyRepair",),
    "repair.decide": ("/credgate.v1.RepairService/DecideRepair",),
    "repair.list": ("/credgate.v1.RepairService/ListRepairs",),
    "subject.access_report": ("/credgate.v1.SubjectService/SubjectAccessReport",),
    "subject.credit_report": ("/credgate.v1.SubjectService/PersonalCreditReport",),
}


class EntrySignatureError(CredgateError):
    """An audit entry's request signature does not verify under its requester's key."""

    status = "DATA_LOSS"

    def __init__(self, message: str, *, seq: int, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.seq = seq


def _all_methods() -> tuple[str, ...]:
    return tuple(sorted({m for ms in ACTION_METHODS.values() for m in ms}))


#: A party's registered key, or its keys: the current one and any it replaced (a
#: replaced key still verifies the requests it signed before).
PartyKeys = Mapping[str, VerifyKey | Sequence[VerifyKey]]


def verify_entry_signature(seq: int, entry: AuditEntry, keys: PartyKeys) -> bool:
    """Check one entry's request signature; False when it has none or no key is known.

    Raises EntrySignatureError when there is a key and the signature does not verify.
    """
    text = entry.request_signature
    if not text:
        return False
    found = keys.get(entry.requester)
    if not found:
        return False
    # One key (Ed25519 or SM2), or a sequence of them.
    candidates = tuple(found) if isinstance(found, Sequence) else (found,)
    # An action this version does not know (an older log's) may be any audited method.
    methods = ACTION_METHODS.get(entry.action) or _all_methods()
    for key in candidates:
        for method in methods:
            try:
                _verify_text(key, method, text, entry.requester)
                return True
            except BadSignature:
                continue
    raise EntrySignatureError(
        f"the request signature of entry {seq} does not verify under the registered key of "
        f"{entry.requester}", seq=seq, reason="request_signature_invalid")


def verify_entry_signatures(entries: Iterable[tuple[int, AuditEntry]],
                            keys: PartyKeys) -> tuple[int, int]:
    """Check every entry; return (verified, unverifiable); raises at the first bad one."""
    verified = unknown = 0
    for seq, entry in entries:
        if verify_entry_signature(seq, entry, keys):
            verified += 1
        elif entry.request_signature:
            unknown += 1
    return verified, unknown


def _verify_text(key: VerifyKey, method: str, text: str, party: str) -> None:
    from gateway.identify.request_signing import verify_audit_text

    verify_audit_text(key, method, text, party=party)
