"""The Python client: a party's mTLS channel to the gateway and typed calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from gateway.api import pb, rpc
from gateway.clock import Clock, SystemClock
from gateway.consent.artefacts import new_terms, sign_terms
from gateway.crypto.sealing import BoxKey, load_box_key
from gateway.crypto.signatures import load_party_signing_key
from gateway.crypto.signers import Verifier, load_verifier
from gateway.errors import ConfigurationError
from gateway.respond.answers import open_records, verify_answer_bytes
from gateway.signed_channel import SigningChannel

# The development certificates name the server "localhost"; connecting by IP still checks it.
DEFAULT_SERVER_NAME = "localhost"


@dataclass(frozen=True, kw_only=True)
class PartyCredentials:
    """The files that make a party: CA bundle, client certificate and key, signing key."""

    party: str
    ca: Path
    cert: Path
    key: Path
    signing_key: Path
    #: The gateway's answer public key: answers are verified against it.
    answer_key: Path | None = None
    #: The party's X25519 private key, if it registered one: sealed answers open with it.
    box_key: Path | None = None

    @classmethod
    def from_keys_dir(cls, keys_dir: Path, party: str) -> PartyCredentials:
        """The credentials `credgate keys init` wrote for a party."""
        answer_key = keys_dir / "gateway.answer.pub"
        box_key = keys_dir / "parties" / f"{party}.box.key"
        return cls(
            party=party,
            ca=keys_dir / "ca.crt",
            cert=keys_dir / "parties" / f"{party}.crt",
            key=keys_dir / "parties" / f"{party}.key",
            signing_key=keys_dir / "parties" / f"{party}.sign.key",
            # A key set made before answers were signed: its log key signs them.
            answer_key=answer_key if answer_key.exists() else keys_dir / "gateway.log.pub",
            box_key=box_key if box_key.exists() else None,
        )


def record_message(record: Mapping[str, Any]) -> pb.Record:
    """A Record message from a dict of its keys; raises ValueError on a value not text.

    A null, a number or a boolean is refused rather than sent as "None", "1.5" or "True":
    a required field must not be filled by accident.
    """
    fields = record.get("fields", {})
    if not isinstance(fields, Mapping):
        raise ValueError("a record's fields must be an object of texts")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise ValueError("every field value must be text (not null, a number or true/false)")
    return pb.Record(
        subject_id=str(record["subject_id"]),
        category=str(record["category"]),
        severity=str(record.get("severity", "not_applicable")),
        event_date=str(record["event_date"]),
        fields=dict(fields),
        source_record_id=str(record["source_record_id"]),
        domain=str(record.get("domain", "")),
        occupation=str(record.get("occupation", "")),
        county=str(record.get("county", "")),
    )


@dataclass(frozen=True)
class ExportedDisclosure:
    """A disclosure export as received: files, manifest, signature, withheld batches and
    the records left out per reason (also in the signed manifest)."""

    files: dict[str, bytes]
    manifest: bytes
    signature: bytes
    withheld_batches: int
    left_out: dict[str, int] = field(default_factory=dict)

class CredgateClient:
    """One party's connection to the gateway; use as a context manager."""

    def __init__(self, target: str, credentials: PartyCredentials, *,
                 server_name: str = DEFAULT_SERVER_NAME, clock: Clock | None = None,
                 verify_answers: bool = True) -> None:
        self.credentials = credentials
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=credentials.ca.read_bytes(),
            private_key=credentials.key.read_bytes(),
            certificate_chain=credentials.cert.read_bytes(),
        )
        self.raw_channel = grpc.secure_channel(
            target, channel_credentials,
            options=[("grpc.ssl_target_name_override", server_name),
                     # What the gateway may send (gateway.server.MAX_MESSAGE_BYTES), not
                     # gRPC's default 4 MiB: a disclosure export is one message.
                     ("grpc.max_receive_message_length", 8 * 1024 * 1024)])
        # Each credgate call sends exactly the bytes it signed (docs/request-signing.md).
        self.signer = SigningChannel(self.raw_channel,
                                     key=load_party_signing_key(credentials.signing_key),
                                     party=credentials.party, clock=clock or SystemClock())
        self.channel: grpc.Channel = self.signer
        # Answers are verified unless the caller turns it off; a client that cannot
        # verify (no gateway key) refuses every signed answer rather than trust it.
        self.verify_answers = verify_answers
        self.answer_key: Verifier | None = None
        if verify_answers and credentials.answer_key is not None:
            self.answer_key = load_verifier(credentials.answer_key)
        self.box_key: BoxKey | None = (None if credentials.box_key is None
                                       else load_box_key(credentials.box_key))
        self.records = rpc.RecordServiceStub(self.channel)
        self.queries = rpc.QueryServiceStub(self.channel)
        self.consents = rpc.ConsentServiceStub(self.channel)
        self.subjects = rpc.SubjectServiceStub(self.channel)
        self.audit = rpc.AuditServiceStub(self.channel)
        self.policy_admin = rpc.PolicyAdminStub(self.channel)
        self.disclosure = rpc.DisclosureServiceStub(self.channel)
        self.objections = rpc.ObjectionServiceStub(self.channel)
        self.repairs = rpc.RepairServiceStub(self.channel)
        self.removals = rpc.RemovalServiceStub(self.channel)
        self.checks = rpc.CheckServiceStub(self.channel)
        self.complaints = rpc.ComplaintServiceStub(self.channel)
        self.extensions = rpc.ExtensionServiceStub(self.channel)
        self.blacklist = rpc.BlacklistServiceStub(self.channel)
        self.peers = rpc.PeerServiceStub(self.channel)
        self.supervision = rpc.SupervisionServiceStub(self.channel)

    def __enter__(self) -> CredgateClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.raw_channel.close()

    def submit_records(self, records: Iterable[Mapping[str, Any]], *,
                       timeout: float = 30.0) -> pb.SubmitRecordsResponse:
        """Submit a batch of records given as dicts with the Record message's keys."""
        batch = [record_message(r) for r in records]
        return self.records.SubmitRecords(pb.SubmitRecordsRequest(records=batch),
                                          timeout=timeout)

    def query_subject(self, subject_id: str, purpose: str, *,
                      categories: Sequence[str] = (), consent_id: str = "",
                      domains: Sequence[str] = (), occupations: Sequence[str] = (),
                      keep_sealed: bool = False,
                      timeout: float = 10.0) -> pb.QuerySubjectResponse:
        """Look a person up for a purpose (with a consent id where the purpose needs one).

        The gateway's signature is checked first; records sealed to this party's X25519
        key are then opened, unless ``keep_sealed`` (keep the answer exactly as signed,
        e.g. to store it and prove it later; ``gateway.respond.answers.open_records`` opens it).
        Raises BadSignature, or DecryptionError when a sealed answer does not open.
        """
        answer = self.queries.QuerySubject(
            pb.QuerySubjectRequest(subject_id=subject_id, purpose=purpose,
                                   categories=list(categories), consent_id=consent_id,
                                   domains=list(domains), occupations=list(occupations)),
            timeout=timeout)
        answer = self._verified(answer, "/credgate.v1.QueryService/QuerySubject")
        if answer.sealed_records and not keep_sealed:
            if self.box_key is None:
                raise ConfigurationError("the answer is sealed and this client has no box key")
            answer = open_records(answer, self.box_key)
        return answer

    def last_answer_bytes(self) -> bytes | None:
        """The bytes of this thread's last answer, exactly as received (what the gateway
        signed; ``gateway.respond.answers.save_answer`` keeps them)."""
        return self.signer.last.answer

    def _verified(self, answer: Any, method: str) -> Any:
        """The answer, after checking the gateway's signature over the bytes received;
        raises BadSignature."""
        if self.verify_answers:
            if self.answer_key is None:
                raise ConfigurationError("no gateway answer key to verify the answer with")
            received = self.signer.last.answer
            if received is None:
                raise ConfigurationError("the answer's bytes were not kept")
            verify_answer_bytes(received, type(answer), self.answer_key, method=method,
                                party=self.credentials.party,
                                request_digest=self.signer.last.digest)
        return answer

    def issue_consent(
        self, *, subject_id: str, grantee: str, purpose: str, categories: Sequence[str],
        not_before: datetime, not_after: datetime, max_uses: int = 1,
        issued_at: datetime | None = None, consent_id: str | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Sign a consent artefact with this party's key and register it; returns its id."""
        terms = new_terms(
            subject_id=subject_id, grantee=grantee, purpose=purpose, categories=categories,
            not_before=not_before, not_after=not_after, max_uses=max_uses,
            issuer=self.credentials.party, issued_at=issued_at or not_before,
            consent_id=consent_id)
        artefact, signature = sign_terms(terms,
                                         load_party_signing_key(self.credentials.signing_key))
        return self.register_consent(artefact, signature, timeout=timeout)

    def register_consent(self, artefact: bytes, signature: bytes, *,
                         timeout: float = 10.0) -> str:
        """Register an already signed artefact; returns its id."""
        reply = self.consents.IssueConsent(
            pb.IssueConsentRequest(consent=pb.SignedConsent(artefact=artefact,
                                                           signature=signature)),
            timeout=timeout)
        return reply.consent_id

    def revoke_consent(self, consent_id: str, reason: str = "", *,
                       timeout: float = 10.0) -> pb.RevokeConsentResponse:
        """Revoke a consent this party issued."""
        return self.consents.RevokeConsent(
            pb.RevokeConsentRequest(consent_id=consent_id, reason=reason), timeout=timeout)

    def subject_access_report(self, subject_id: str, consent_id: str, *,
                              timeout: float = 10.0) -> pb.SubjectAccessReportResponse:
        """Who looked at this person's data (citizen portal, with the person's consent)."""
        return self.subjects.SubjectAccessReport(
            pb.SubjectAccessReportRequest(subject_id=subject_id, consent_id=consent_id),
            timeout=timeout)

    def propose_policy(self, files: Mapping[str, bytes], *,
                       timeout: float = 120.0) -> pb.PolicyVersion:
        """Send a policy bundle (file name -> content) for validation, tests and rollout."""
        return self.policy_admin.ProposePolicy(
            pb.ProposePolicyRequest(files=[pb.PolicyFile(name=n, content=c)
                                           for n, c in sorted(files.items())]),
            timeout=timeout)

    # -- the record lifecycle: objections, repair, removal, checks, blacklist ----------

    def file_objection(self, subject_id: str, consent_id: str, record_id: str, reason: str,
                       *, timeout: float = 10.0) -> pb.ObjectionReply:
        """Object to one of the person's records (citizen portal, with self_query consent)."""
        return self.objections.FileObjection(
            pb.FileObjectionRequest(subject_id=subject_id, consent_id=consent_id,
                                    record_id=record_id, reason=reason), timeout=timeout)

    def list_objections(self, *, status: str = "", overdue_only: bool = False,
                        subject_id: str = "", consent_id: str = "", limit: int = 0,
                        timeout: float = 10.0) -> pb.ListObjectionsResponse:
        """Objections the caller may see (its records', the person's, or all for regulators)."""
        return self.objections.ListObjections(
            pb.ListObjectionsRequest(status=status, overdue_only=overdue_only,
                                     subject_id=subject_id, consent_id=consent_id,
                                     limit=limit), timeout=timeout)

    def answer_objection(self, objection_id: str, outcome: str, *, note: str = "",
                         correction: Mapping[str, Any] | None = None,
                         timeout: float = 10.0) -> pb.ObjectionReply:
        """Answer an objection: outcome "uphold", "correct" (with the record) or "withdraw"."""
        request = pb.AnswerObjectionRequest(
            objection_id=objection_id, note=note,
            outcome=pb.ObjectionOutcome.Value(f"OBJECTION_OUTCOME_{outcome.upper()}"))
        if correction is not None:
            request.correction.CopyFrom(record_message(correction))
        return self.objections.AnswerObjection(request, timeout=timeout)

    def apply_repair(self, subject_id: str, consent_id: str, record_id: str, statement: str,
                     *, evidence: Sequence[str] = (), timeout: float = 10.0) -> pb.RepairReply:
        """Apply for credit repair of one of the person's records (citizen portal), citing
        the person's positive records (repair training, volunteering, donations) by id."""
        return self.repairs.ApplyRepair(
            pb.ApplyRepairRequest(subject_id=subject_id, consent_id=consent_id,
                                  record_id=record_id, statement=statement,
                                  evidence_record_ids=list(evidence)), timeout=timeout)

    def list_repairs(self, *, status: str = "", subject_id: str = "", consent_id: str = "",
                     limit: int = 0, timeout: float = 10.0) -> pb.ListRepairsResponse:
        """Repair applications the caller may see."""
        return self.repairs.ListRepairs(
            pb.ListRepairsRequest(status=status, subject_id=subject_id, consent_id=consent_id,
                                  limit=limit), timeout=timeout)

    def decide_repair(self, repair_id: str, *, approve: bool, reason: str,
                      timeout: float = 10.0) -> pb.RepairReply:
        """Approve or reject a repair application (the deciding department)."""
        return self.repairs.DecideRepair(
            pb.DecideRepairRequest(repair_id=repair_id, approve=approve, reason=reason),
            timeout=timeout)

    def remove_record(self, *, reason: str, record_id: str = "", source_record_id: str = "",
                      timeout: float = 10.0) -> pb.RemoveRecordResponse:
        """Remove a record shown until its removal (its provider, e.g. the court)."""
        return self.removals.RemoveRecord(
            pb.RemoveRecordRequest(record_id=record_id, source_record_id=source_record_id,
                                   reason=reason), timeout=timeout)

    def green_channel(self, subject_id: str, purpose: str = "admin_licensing", *,
                      timeout: float = 10.0) -> pb.GreenChannelResponse:
        """Whether the person earns the green channel (容缺受理): yes or no."""
        answer = self.checks.GreenChannelEligibility(
            pb.GreenChannelRequest(subject_id=subject_id, purpose=purpose), timeout=timeout)
        return self._verified(answer, "/credgate.v1.CheckService/GreenChannelEligibility")

    def joint_punishment(self, subject_id: str, measure: str,
                         purpose: str = "joint_punishment", *,
                         timeout: float = 10.0) -> pb.JointPunishmentResponse:
        """Whether a joint punishment measure restricts the person."""
        answer = self.checks.JointPunishmentCheck(
            pb.JointPunishmentRequest(subject_id=subject_id, measure=measure, purpose=purpose),
            timeout=timeout)
        return self._verified(answer, "/credgate.v1.CheckService/JointPunishmentCheck")

    def forward_objection(self, record_id: str, subject_id: str, reason: str, *,
                          timeout: float = 10.0) -> pb.ObjectionReply:
        """A peer platform files a person's objection to a record it received from the
        gateway called (the record's origin)."""
        answer = self.peers.ForwardObjection(
            pb.ForwardObjectionRequest(record_id=record_id, subject_id=subject_id,
                                       reason=reason), timeout=timeout)
        return self._verified(answer, "/credgate.v1.PeerService/ForwardObjection")

    def objection_status(self, objection_id: str, *, timeout: float = 10.0
                         ) -> pb.ObjectionReply:
        """Where an objection this platform forwarded stands at the record's origin."""
        answer = self.peers.ObjectionStatus(
            pb.ObjectionStatusRequest(objection_id=objection_id), timeout=timeout)
        return self._verified(answer, "/credgate.v1.PeerService/ObjectionStatus")

    def list_complaints(self, *, timeout: float = 10.0) -> pb.ListComplaintsResponse:
        """Every complaint about an access, with its due date (regulators)."""
        return self.complaints.ListComplaints(pb.ListComplaintsRequest(), timeout=timeout)

    def answer_complaint(self, complaint_id: str, outcome: str, note: str = "", *,
                         timeout: float = 10.0) -> pb.AnswerComplaintResponse:
        """Answer a complaint: upheld or dismissed (regulators)."""
        return self.complaints.AnswerComplaint(
            pb.AnswerComplaintRequest(complaint_id=complaint_id, outcome=outcome, note=note),
            timeout=timeout)

    def list_extensions(self, *, status: str = "", timeout: float = 10.0
                        ) -> pb.ListExtensionsResponse:
        """Extension applications about the caller's own records (providing department)."""
        return self.extensions.ListExtensions(pb.ListExtensionsRequest(status=status),
                                              timeout=timeout)

    def answer_extension(self, application_id: str, outcome: str, *, granted_until: str = "",
                         note: str = "", timeout: float = 10.0) -> pb.AnswerExtensionResponse:
        """Grant (until a date) or refuse an extension application, once."""
        return self.extensions.AnswerExtension(
            pb.AnswerExtensionRequest(application_id=application_id, outcome=outcome,
                                      granted_until=granted_until, note=note),
            timeout=timeout)

    def revise_record(self, *, reason: str, record_id: str = "", source_record_id: str = "",
                      correction: Mapping[str, Any] | None = None,
                      timeout: float = 10.0) -> pb.ReviseRecordResponse:
        """Correct (with a corrected record) or withdraw one of the caller's own records."""
        request = pb.ReviseRecordRequest(record_id=record_id, reason=reason,
                                         source_record_id=source_record_id)
        if correction is not None:
            request.correction.CopyFrom(record_message(correction))
        return self.removals.ReviseRecord(request, timeout=timeout)

    def credit_report(self, subject_id: str, consent_id: str, categories: Sequence[str], *,
                      timeout: float = 30.0) -> pb.PersonalCreditReportResponse:
        """The person's signed credit report of the chosen categories (the portal only)."""
        return self.subjects.PersonalCreditReport(
            pb.PersonalCreditReportRequest(subject_id=subject_id, consent_id=consent_id,
                                           categories=list(categories)), timeout=timeout)

    def incentive(self, subject_id: str, incentive: str, purpose: str = "incentive", *,
                  consent_id: str = "", timeout: float = 10.0) -> pb.IncentiveResponse:
        """Whether the person qualifies for an incentive measure (守信激励): yes or no."""
        answer = self.checks.IncentiveEligibility(
            pb.IncentiveRequest(subject_id=subject_id, incentive=incentive, purpose=purpose,
                                consent_id=consent_id), timeout=timeout)
        return self._verified(answer, "/credgate.v1.CheckService/IncentiveEligibility")

    def export_disclosure(self, categories: Sequence[str] = (), *,
                          timeout: float = 600.0) -> ExportedDisclosure:
        """The website's export, its pieces put together (not yet checked: see
        gateway.disclosure.export.verify_manifest)."""
        files: dict[str, bytearray] = {}
        last = pb.DisclosureExport()
        for piece in self.disclosure.ExportDisclosure(
                pb.ExportDisclosureRequest(categories=list(categories)), timeout=timeout):
            for f in piece.files:
                files.setdefault(f.name, bytearray()).extend(f.content)
            if piece.manifest:
                last = piece
        return ExportedDisclosure(files={n: bytes(c) for n, c in files.items()},
                                  manifest=last.manifest, signature=last.signature,
                                  withheld_batches=last.withheld_batches,
                                  left_out={o.reason: o.count for o in last.left_out})

    def blacklist_agency(self, party: str, reason: str, *,
                         timeout: float = 10.0) -> pb.BlacklistEntry:
        """Blacklist a credit agency (security officer)."""
        return self.blacklist.BlacklistAgency(pb.BlacklistRequest(party=party, reason=reason),
                                              timeout=timeout)

    def lift_blacklist(self, party: str, reason: str, *,
                       timeout: float = 10.0) -> pb.BlacklistEntry:
        """Lift a credit agency's listing (security officer)."""
        return self.blacklist.LiftBlacklist(pb.BlacklistRequest(party=party, reason=reason),
                                            timeout=timeout)

    def list_blacklist(self, *, include_lifted: bool = False,
                       timeout: float = 10.0) -> pb.ListBlacklistResponse:
        """The blacklist (security officers and regulators)."""
        return self.blacklist.ListBlacklist(
            pb.ListBlacklistRequest(include_lifted=include_lifted), timeout=timeout)

    def watch_alerts(self, *, after_seq: int = 0, follow: bool = True,
                     timeout: float | None = None) -> Any:
        """Alerts and acknowledgements after a seq, then as they come (regulators).

        The call is an iterator of AlertEvent; ``cancel()`` ends a following watch.
        """
        return self.supervision.WatchAlerts(
            pb.WatchAlertsRequest(after_seq=after_seq, no_follow=not follow), timeout=timeout)

    def ack_alert(self, alert_id: str, note: str = "", *,
                  timeout: float = 10.0) -> pb.AckAlertResponse:
        """Acknowledge an alert with a note (regulators)."""
        return self.supervision.AckAlert(pb.AckAlertRequest(alert_id=alert_id, note=note),
                                         timeout=timeout)

    def declare_decisions(self, counts: Iterable[tuple[str, str, int]], *,
                          timeout: float = 30.0) -> pb.DeclareDecisionsResponse:
        """Declare (month, purpose, decisions) counts for the 应查必查 figures (departments)."""
        return self.supervision.DeclareDecisions(pb.DeclareDecisionsRequest(counts=[
            pb.DecisionCount(month=m, purpose=p, decisions=n) for m, p, n in counts]),
            timeout=timeout)
