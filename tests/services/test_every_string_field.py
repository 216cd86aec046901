"""A personal number in any field of any request: never echoed, logged or kept in clear.

Through a real gateway over mTLS on loopback, every credgate method is called with a
valid request (a seed, from the party that may make it), and every string field of that
request in turn (nested messages, repeated fields, map keys and values: a record's
fields, a correction's, a complaint's, a statement's...) is replaced by a value that
holds a third person's ID number, old ID, mobile or card number (glued to letters, in
spaced groups, in full-width digits, split by underscores or 、). Whatever the gateway
does with it:

- a refusal is never INTERNAL or UNKNOWN, and its message quotes neither the value nor
  the number (in any digits);
- no audit entry written for the call holds the number (in any digits), and no log line;
- afterwards no file of the gateway's data folder holds the number or the value in clear.

Every integer field is tried the same way at its extremes (2**64 - 1, 2**63, -1...) and
holding an ID number's or a mobile's digits: never INTERNAL (a uint64 beyond SQL's
integers made a policy approval fail inside), never quoted, never logged.

The newer methods are included: complaints, extension applications and answers, personal
statements, commitments, credit reports, incentives, honour lists, alerts and decision
counts, policy approval comments. (Peer methods are called as a party that is no peer:
tests/peers/test_peer_identity.py covers a peer's own requests.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gateway.api import pb
from gateway.client import CredgateClient, record_message
from gateway.clock import FixedClock
from gateway.pii.idnumber import make_id_number
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.pii.written_forms import digit_reading, luhn_complete
from tests.services.lifecycle_support import self_consent
from tests.services.records_data import (
    debtor_record,
    financial_record,
    identity_record,
    penalty_record,
    tax_record,
)
from tests.support import ADULT, NOW, POLICIES

pytestmark = pytest.mark.e2e

# A third person's numbers: nowhere in the gateway but in what this test sends.
THIRD = make_id_number("330106", date(1979, 5, 4), 17)
OLD = "410103" + "820611" + "052"
MOBILE = "13957146823"
CARD = luhn_complete("622848001234567")
_FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
# (value sent, the digits that must never show)
VALUES: list[tuple[str, str]] = [
    (f"ab{THIRD}cd", THIRD[:17]),
    (f"{THIRD[:6]} {THIRD[6:14]} {THIRD[14:]}", THIRD[:17]),
    (THIRD.translate(_FULL), THIRD[:17]),
    (f"{MOBILE[:3]}_{MOBILE[3:7]}_{MOBILE[7:]}", MOBILE),
    (f"{OLD[:6]}-{OLD[6:]}", OLD),
    ("、".join(CARD[i:i + 4] for i in range(0, len(CARD), 4)), CARD),
]
TODAY = NOW.date()
_sources = itertools.count(1)


def _source() -> str:
    return f"SW-{next(_sources)}"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    running = start_live(tmp_path_factory.mktemp("every-field"), FixedClock(NOW),
                         policy_two_person=True)
    try:
        yield running
    finally:
        stop_live(running)


class World:
    """The records, consents and cases the seeds refer to."""

    def __init__(self, live: LiveGateway) -> None:
        self.live = live
        self._clients: dict[str, CredgateClient] = {}
        court = self.c("court")
        self.debt = court.submit_records([debtor_record("SW-J")]).results[0].record_id
        self.penalty = self.c("market_regulator").submit_records(
            [penalty_record("SW-P", "general", "2026-10-01")]).results[0].record_id
        self.consent = self_consent(live)
        portal = self.c("citizen_portal")
        self.objection = portal.file_objection(ADULT, self.consent, self.debt,
                                               "已履行完毕").objection.objection_id
        now = live.gw.clock.now()
        self.agency_consent = portal.issue_consent(
            subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
            categories=["dishonest_debtor", "identity"], not_before=now,
            not_after=now + timedelta(days=30), max_uses=10_000)
        try:
            self.repair = portal.apply_repair(ADULT, self.consent, self.penalty,
                                              "已缴纳罚款并整改").repair.repair_id
        except grpc.RpcError:
            self.repair = "rep-00000000-0000-4000-8000-000000000000"

    def c(self, party: str) -> CredgateClient:
        if party not in self._clients:
            self._clients[party] = self.live.client(party)
        return self._clients[party]

    def complaint(self) -> str:
        """A fresh complaint of the person about a fresh access."""
        looked = self.c("org_department").query_subject(ADULT, "cadre_selection")
        self.c("citizen_portal").submit_records([{
            "subject_id": ADULT, "category": "access_complaint",
            "severity": "not_applicable", "event_date": TODAY.isoformat(),
            "source_record_id": _source(),
            "fields": {"audit_seq": str(looked.audit_seq), "reason": "无权查询"}}])
        listed = self.c("regulator").list_complaints().complaints
        return next(c.complaint_id for c in listed if c.audit_seq == looked.audit_seq)

    def application(self) -> str:
        """A fresh extension application about the penalty."""
        reply = self.c("citizen_portal").submit_records([{
            "subject_id": ADULT, "category": "extension_application",
            "severity": "not_applicable", "event_date": TODAY.isoformat(),
            "source_record_id": _source(),
            "fields": {"about_record_id": self.penalty, "requested_until": "2027-03-31",
                       "statement": "申请延期"}}])
        return reply.results[0].record_id

    def pending_policy(self) -> int:
        """A fresh proposal waiting for the second officer (one comment line more)."""
        files = read_bundle(POLICIES)
        files["policy.csv"] = files["policy.csv"] + f"# sweep {next(_sources)}\n".encode()
        proposed = self.c("security_officer").policy_admin.ProposePolicy(
            pb.ProposePolicyRequest(files=[pb.PolicyFile(name=n, content=b)
                                           for n, b in sorted(files.items())]), timeout=120)
        assert proposed.status == "pending", proposed
        return int(proposed.id)

    def fresh_debt(self) -> str:
        """A fresh court listing's source record id."""
        source = _source()
        self.c("court").submit_records([debtor_record(source)])
        return source


def _records(*records: dict[str, Any]) -> pb.SubmitRecordsRequest:
    return pb.SubmitRecordsRequest(records=[record_message(r) for r in records])


def _submission(category: str, fields: dict[str, str], *, severity: str = "not_applicable",
                event_date: str = "2026-11-01") -> dict[str, Any]:
    return {"subject_id": ADULT, "category": category, "severity": severity,
            "event_date": event_date, "source_record_id": _source(), "fields": fields}


# method -> (party, stub attribute, method name, seed factory)
Seed = tuple[str, str, str, Callable[["World"], Message]]


def seeds() -> dict[str, Seed]:
    def sub(record: Callable[[World], dict[str, Any]]) -> Callable[[World], Message]:
        return lambda w: _records({**record(w), "source_record_id": _source()})

    return {
        "submit_debtor": ("court", "records", "SubmitRecords", sub(lambda w: debtor_record())),
        "submit_penalty": ("market_regulator", "records", "SubmitRecords", sub(
            lambda w: penalty_record("x", "general", "2026-10-01"))),
        "submit_identity": ("public_security", "records", "SubmitRecords",
                            sub(lambda w: identity_record())),
        "submit_financial": ("pboc_branch", "records", "SubmitRecords",
                             sub(lambda w: financial_record())),
        "submit_tax": ("tax_bureau", "records", "SubmitRecords", sub(lambda w: tax_record())),
        "submit_commitment": ("hr_bureau", "records", "SubmitRecords", sub(
            lambda w: _submission("credit_commitment", {
                "commitment_type": "employment", "content": "如实填报个人信息",
                "promisee": "市人社局", "due_date": "2027-06-30"}))),
        "submit_statement": ("citizen_portal", "records", "SubmitRecords", sub(
            lambda w: _submission("personal_statement", {
                "about_record_id": w.debt, "statement": "已与申请人达成和解"}))),
        "submit_extension": ("citizen_portal", "records", "SubmitRecords", sub(
            lambda w: _submission("extension_application", {
                "about_record_id": w.penalty, "requested_until": "2027-03-31",
                "statement": "申请延期"}))),
        "submit_honour_list": ("civilisation_office", "records", "SubmitRecords", sub(
            lambda w: _submission("honour_list", {
                "list_type": "moral_model", "list_name": "道德模范", "person_name": "张伟",
                "recommender": "市文明办", "citation": "见义勇为"}, severity="not_applicable"))),
        "query_department": ("org_department", "queries", "QuerySubject", lambda w: (
            pb.QuerySubjectRequest(subject_id=ADULT, purpose="cadre_selection",
                                   categories=["dishonest_debtor"], domains=[],
                                   occupations=[]))),
        "query_agency": ("credit_agency", "queries", "QuerySubject", lambda w: (
            pb.QuerySubjectRequest(subject_id=ADULT, purpose="authorised_query",
                                   categories=["dishonest_debtor"],
                                   consent_id=w.agency_consent))),
        "revoke": ("citizen_portal", "consents", "RevokeConsent", lambda w: (
            pb.RevokeConsentRequest(consent_id=w.c("citizen_portal").issue_consent(
                subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
                categories=["identity"], not_before=NOW, not_after=NOW + timedelta(days=1)),
                reason="不再需要"))),
        "audit_list": ("regulator", "audit", "ListAuditEntries", lambda w: (
            pb.ListAuditEntriesRequest(time_from="2026-01-01T00:00:00Z",
                                       time_to="2027-01-01T00:00:00Z", requester="court",
                                       purpose="submission", decision="allow",
                                       subject_id=ADULT, action="records.submit",
                                       page_size=5, page_token=""))),
        "figures": ("regulator", "audit", "SupervisionFigures",
                    lambda w: pb.SupervisionFiguresRequest(as_of=TODAY.isoformat())),
        "tile": ("regulator", "audit", "GetTile",
                 lambda w: pb.TileRequest(path="tile/0/000.p/1")),
        "access_report": ("citizen_portal", "subjects", "SubjectAccessReport", lambda w: (
            pb.SubjectAccessReportRequest(subject_id=ADULT, consent_id=w.consent))),
        "credit_report": ("citizen_portal", "subjects", "PersonalCreditReport", lambda w: (
            pb.PersonalCreditReportRequest(subject_id=ADULT, consent_id=w.consent,
                                           categories=["dishonest_debtor"]))),
        "propose": ("security_officer", "policy_admin", "ProposePolicy", lambda w: (
            pb.ProposePolicyRequest(files=[pb.PolicyFile(name=n, content=b) for n, b in
                                           sorted(read_bundle(POLICIES).items())]))),
        "explain": ("security_officer", "policy_admin", "ExplainDecision", lambda w: (
            pb.ExplainDecisionRequest(party="credit_agency", purpose="authorised_query",
                                      object="identity.address", action="read",
                                      consent=True))),
        "approve": ("security_officer_b", "policy_admin", "ApprovePolicy", lambda w: (
            pb.ApprovePolicyRequest(id=w.pending_policy(), comment="已复核"))),
        "reject": ("security_officer_b", "policy_admin", "RejectPolicy", lambda w: (
            pb.RejectPolicyRequest(id=w.pending_policy(), comment="退回修改"))),
        "file_objection": ("citizen_portal", "objections", "FileObjection", lambda w: (
            pb.FileObjectionRequest(subject_id=ADULT, consent_id=w.consent,
                                    record_id=w.penalty, reason="处罚有误"))),
        "list_objections": ("citizen_portal", "objections", "ListObjections", lambda w: (
            pb.ListObjectionsRequest(status="", subject_id=ADULT, consent_id=w.consent))),
        "answer_objection": ("court", "objections", "AnswerObjection", lambda w: (
            pb.AnswerObjectionRequest(objection_id=w.objection,
                                      outcome=pb.OBJECTION_OUTCOME_CORRECT, note="已更正",
                                      correction=record_message(debtor_record(_source()))))),
        "apply_repair": ("citizen_portal", "repairs", "ApplyRepair", lambda w: (
            pb.ApplyRepairRequest(subject_id=ADULT, consent_id=w.consent,
                                  record_id=w.penalty, statement="已整改",
                                  evidence_record_ids=[w.debt]))),
        "list_repairs": ("citizen_portal", "repairs", "ListRepairs", lambda w: (
            pb.ListRepairsRequest(status="", subject_id=ADULT, consent_id=w.consent))),
        "decide_repair": ("market_regulator", "repairs", "DecideRepair", lambda w: (
            pb.DecideRepairRequest(repair_id=w.repair, approve=False, reason="材料不全"))),
        "remove": ("court", "removals", "RemoveRecord", lambda w: (
            pb.RemoveRecordRequest(source_record_id=w.fresh_debt(),
                                   reason="obligation_performed"))),
        "revise": ("court", "removals", "ReviseRecord", lambda w: (
            pb.ReviseRecordRequest(source_record_id=w.fresh_debt(), reason="entered_in_error",
                                   correction=record_message(debtor_record(_source()))))),
        "answer_complaint": ("regulator", "complaints", "AnswerComplaint", lambda w: (
            pb.AnswerComplaintRequest(complaint_id=w.complaint(), outcome="upheld",
                                      note="已责令整改"))),
        "list_extensions": ("market_regulator", "extensions", "ListExtensions",
                            lambda w: pb.ListExtensionsRequest(status="")),
        "answer_extension": ("market_regulator", "extensions", "AnswerExtension", lambda w: (
            pb.AnswerExtensionRequest(application_id=w.application(), outcome="granted",
                                      granted_until="2027-02-28", note="同意延期"))),
        "green_channel": ("market_regulator", "checks", "GreenChannelEligibility", lambda w: (
            pb.GreenChannelRequest(subject_id=ADULT, purpose="admin_licensing"))),
        "joint_punishment": ("tax_bureau", "checks", "JointPunishmentCheck", lambda w: (
            pb.JointPunishmentRequest(subject_id=ADULT, measure="financing",
                                      purpose="joint_punishment"))),
        "incentive": ("hr_bureau", "checks", "IncentiveEligibility", lambda w: (
            pb.IncentiveRequest(subject_id=ADULT, incentive="employment_support",
                                purpose="incentive"))),
        "blacklist": ("security_officer", "blacklist", "BlacklistAgency", lambda w: (
            pb.BlacklistRequest(party="credit_agency_b", reason="转售查询结果"))),
        "lift_blacklist": ("security_officer", "blacklist", "LiftBlacklist", lambda w: (
            pb.BlacklistRequest(party="credit_agency_b", reason="整改完成"))),
        "feed": ("credit_website", "disclosure", "PublicDisclosure", lambda w: (
            pb.PublicDisclosureRequest(categories=["dishonest_debtor"]))),
        "export": ("credit_website", "disclosure", "ExportDisclosure", lambda w: (
            pb.ExportDisclosureRequest(categories=["dishonest_debtor"]))),
        "push": ("court", "peers", "PushChanges", lambda w: pb.PushChangesRequest(
            batch_id="batch-1", changes=[pb.PeerChange(
                seq=1, record_id="rec-x", kind="upsert", change="c", subject_id=ADULT,
                category="dishonest_debtor", severity="serious", event_date="2026-01-01",
                display_end="2029-01-01", provider="court", domain="", occupation="",
                state="active", replaces="",
                fields=[pb.ReleasedField(name="case_number", value="(2026)1号")])])),
        "forward_objection": ("court", "peers", "ForwardObjection", lambda w: (
            pb.ForwardObjectionRequest(record_id=w.debt, subject_id=ADULT, reason="有误"))),
        "objection_status": ("court", "peers", "ObjectionStatus", lambda w: (
            pb.ObjectionStatusRequest(objection_id=w.objection))),
        "ack_alert": ("regulator", "supervision", "AckAlert", lambda w: (
            pb.AckAlertRequest(alert_id="al-" + "ab" * 12, note="已约谈"))),
        "declare": ("org_department", "supervision", "DeclareDecisions", lambda w: (
            pb.DeclareDecisionsRequest(counts=[pb.DecisionCount(
                month="2026-11", purpose="cadre_selection", decisions=4)]))),
    }


SEEDS = seeds()
STREAMING = {(s.name, m.name) for s in pb.DESCRIPTOR.services_by_name.values()
             for m in s.methods if m.server_streaming}

# A path to a string: field names, an index into a repeated message, and for a map
# ("key",) (a new key holding the value) or ("value", key) (an existing key's value).
Path_ = tuple[Any, ...]


def string_paths(msg: Message, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every string field of a message, set or not, nested and repeated ones included."""
    for fd in msg.DESCRIPTOR.fields:
        if fd.type == FieldDescriptor.TYPE_STRING:
            yield (*prefix, fd.name)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.message_type.GetOptions().map_entry:
                yield (*prefix, fd.name, ("key",))
                for key in getattr(msg, fd.name):
                    yield (*prefix, fd.name, ("value", key))
            elif fd.is_repeated:
                for index, item in enumerate(getattr(msg, fd.name)):
                    yield from string_paths(item, (*prefix, fd.name, index))
            elif msg.HasField(fd.name):
                yield from string_paths(getattr(msg, fd.name), (*prefix, fd.name))


def put_path(msg: Message, path: Path_, value: str) -> None:
    """Set the string at path to value (a map's new key, or an existing key's value)."""
    target: Any = msg
    last = path[-1]
    steps = path[:-2] if isinstance(last, tuple) else path[:-1]
    for step in steps:
        target = target[step] if isinstance(step, int) else getattr(target, step)
    if isinstance(last, tuple):
        mapping = getattr(target, path[-2])
        if last[0] == "key":
            mapping[value] = "x"
        else:
            mapping[last[1]] = value
        return
    current = getattr(target, last)
    if isinstance(current, str):
        setattr(target, last, value)
    elif len(current):  # a repeated string
        current[0] = value
    else:
        current.append(value)


def _label(path: Path_) -> str:
    return ".".join(str(p[0]) if isinstance(p, tuple) else str(p) for p in path)


def _data_bytes(live: LiveGateway) -> bytes:
    folder: Path = live.gw.config.data_dir
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture(scope="module")
def world(gw: LiveGateway) -> World:
    return World(gw)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_a_number_in_any_string_field_is_never_echoed_logged_or_kept(
        gw: LiveGateway, world: World, seed: str) -> None:
    party, stub, method, make = SEEDS[seed]
    client = world.c(party)
    call = getattr(getattr(client, stub), method)
    streaming = any(m == method for _s, m in STREAMING)
    paths = list(string_paths(make(world)))
    assert paths, seed
    tried = 0
    for path in paths:
        for value, digits in VALUES:
            request = make(world)
            put_path(request, path, value)
            before = gw.gw.audit.size()
            logged = len(gw.logs.records)
            where = f"{seed} {_label(path)} {value!r}"
            try:
                reply = call(request, timeout=120)
                if streaming:
                    list(reply)
            except grpc.RpcError as error:
                assert error.code() not in (grpc.StatusCode.INTERNAL,
                                            grpc.StatusCode.UNKNOWN), (where, error.details())
                details = error.details() or ""
                assert value not in details, where
                assert digits not in digit_reading(details), (where, details)
            tried += 1
            for _seq, entry in gw.gw.audit.read(start=before + 1, limit=100):
                text = entry.canonical_bytes().decode()
                assert value not in text and digits not in digit_reading(text), (where, text)
            for record in gw.logs.records[logged:]:
                line = record.getMessage()
                assert value not in line and digits not in digit_reading(line), (where, line)
    raw = _data_bytes(gw)
    for value, digits in VALUES:
        assert digits.encode() not in raw and value.encode() not in raw, (seed, value)
    assert tried == len(paths) * len(VALUES)


def _has_strings(descriptor: Any, depth: int = 0) -> bool:
    return depth < 4 and any(
        f.type == FieldDescriptor.TYPE_STRING or (
            f.type == FieldDescriptor.TYPE_MESSAGE and _has_strings(f.message_type, depth + 1))
        for f in descriptor.fields)


def test_every_method_with_a_string_field_has_a_seed() -> None:
    with_strings = {m.name for service in pb.DESCRIPTOR.services_by_name.values()
                    for m in service.methods if _has_strings(m.input_type)}
    seeded = {method for _p, _s, method, _m in SEEDS.values()}
    assert with_strings - seeded == set(), with_strings - seeded


# Methods whose requests hold integers but no string.
INT_SEEDS: dict[str, Seed] = {
    "inclusion": ("regulator", "audit", "GetInclusionProof",
                  lambda w: pb.InclusionProofRequest(seq=1, tree_size=2)),
    "consistency": ("regulator", "audit", "GetConsistencyProof",
                    lambda w: pb.ConsistencyProofRequest(old_size=1, new_size=2)),
    "export_audit": ("regulator", "audit", "ExportAudit",
                     lambda w: pb.ExportAuditRequest(start_seq=1, end_seq=2)),
    "watch": ("regulator", "supervision", "WatchAlerts",
              lambda w: pb.WatchAlertsRequest(after_seq=1, no_follow=True)),
    "versions": ("security_officer", "policy_admin", "ListPolicyVersions",
                 lambda w: pb.ListPolicyVersionsRequest(limit=5)),
}
_INT_TYPES = {FieldDescriptor.TYPE_UINT64: 64, FieldDescriptor.TYPE_INT64: -64,
              FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_INT32: -32}


def _int_values(bits: int) -> list[int]:
    """Extremes of an integer type, and an ID number's or a mobile's digits where they fit."""
    if bits == 64:
        return [2**64 - 1, 2**63, 2**53 + 1, int(THIRD[:17] + "0"), 0]
    if bits == -64:
        return [-(2**63), 2**63 - 1, -1, int(THIRD[:17] + "0")]
    if bits == 32:
        return [2**32 - 1, 2**31, 1395714682]
    return [-(2**31), 2**31 - 1, -1]


def int_paths(msg: Message, prefix: Path_ = ()) -> Iterator[tuple[Path_, int]]:
    """Every integer field (not repeated) of a message and its type's bits."""
    for fd in msg.DESCRIPTOR.fields:
        if fd.type in _INT_TYPES and not fd.is_repeated:
            yield (*prefix, fd.name), _INT_TYPES[fd.type]
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and not (
                fd.message_type.GetOptions().map_entry):
            if fd.is_repeated:
                if len(getattr(msg, fd.name)):
                    yield from int_paths(getattr(msg, fd.name)[0], (*prefix, fd.name, 0))
            elif msg.HasField(fd.name):
                yield from int_paths(getattr(msg, fd.name), (*prefix, fd.name))


@pytest.mark.parametrize("seed", sorted({**SEEDS, **INT_SEEDS}))
def test_an_integer_at_its_extremes_is_never_internal_quoted_or_logged(
        gw: LiveGateway, world: World, seed: str) -> None:
    party, stub, method, make = {**SEEDS, **INT_SEEDS}[seed]
    call = getattr(getattr(world.c(party), stub), method)
    streaming = any(m == method for _s, m in STREAMING)
    for path, bits in int_paths(make(world)):
        for number in _int_values(bits):
            request = make(world)
            target: Any = request
            for step in path[:-1]:
                target = target[step] if isinstance(step, int) else getattr(target, step)
            setattr(target, path[-1], number)
            before = gw.gw.audit.size()
            where = f"{seed} {_label(path)} {number}"
            try:
                reply = call(request, timeout=120)
                if streaming:
                    for i, _item in enumerate(reply):
                        if i >= 3:
                            reply.cancel()
                            break
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.CANCELLED:
                    continue
                assert error.code() not in (grpc.StatusCode.INTERNAL,
                                            grpc.StatusCode.UNKNOWN), (where, error.details())
                if abs(number) >= 10**8:
                    assert str(abs(number)) not in (error.details() or ""), where
            if abs(number) >= 10**8:
                for _seq, entry in gw.gw.audit.read(start=before + 1, limit=100):
                    assert str(abs(number)) not in entry.canonical_bytes().decode(), where
