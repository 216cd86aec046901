"""The durable outbox: record changes go to the peers the sharing catalogue names.

Every change of a shared record (listing, correction, removal, withdrawal, disputed mark
and its end, repair, end of display) queues a row in the store *in the transaction of the
change* (gateway/records/sql_peers.py). This pusher sends each peer its rows in order:

1. lease: one instance at a time pushes to a peer (a row lease in the shared store);
2. read: the oldest queued changes; each record is read as it stands now, so a record
   that left use (or whose display ended, or that policy no longer releases) goes as a
   retirement and the peer stops holding it;
3. decide and protect: the fields the policy releases to the peer for the sharing
   purpose, clear or masked by its audience's profile, exactly as for a query; a
   ``summary`` category sends none;
4. audit: an entry naming the peer, the categories, the fields released and this
   gateway's own request signature, durable before anything leaves;
5. push: one signed call (PeerService.PushChanges); the peer applies each record's
   changes once and in order, audits the push with this signature, and answers signed;
6. acknowledge: an entry naming the peer's audit entry and its answer signature, then
   the rows leave the outbox. A crash anywhere before this resends the same changes,
   which the peer skips: idempotent, resumable, ordered per record.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from gateway.api import pb
from gateway.app import Gateway
from gateway.audit.entry import AuditEntry
from gateway.catalogue.sharing import SUMMARY, SharingRule
from gateway.clock import city_today, rfc3339
from gateway.errors import CredgateError
from gateway.identify.request_signing import RequestSignature
from gateway.peers.client import PeerClient
from gateway.pii.identifiers import new_identifier
from gateway.policy.conditions import ConditionContext
from gateway.policy.rollout import PolicyState
from gateway.protect.release import CLEAR, audience_of, protect_record
from gateway.records.intake import open_subject
from gateway.records.lifecycle import ACTIVE, in_use
from gateway.records.model import StoredRecord
from gateway.records.peer_rows import OutboxItem

log = logging.getLogger("credgate.peers")

PUSH_ACTION = "peer.push"
ACK_ACTION = "peer.push.acknowledged"
UPSERT, RETIRE = "upsert", "retire"
#: Why a record goes as a retirement although it is active here.
EXPIRED, NOT_SHARED = "expired", "not_shared"
_DISCLOSURE = {CLEAR: pb.CLEAR}


@dataclass
class PushOutcome:
    """What one push did: the changes sent, the peer's audit entry and answer signature."""

    peer: str
    sent: int
    applied: int
    skipped: int
    audit_seq: int
    peer_audit_seq: int
    categories: tuple[str, ...] = field(default=())


def _retirement(item: OutboxItem, record: StoredRecord | None, state: str
                ) -> pb.PeerChange:
    return pb.PeerChange(seq=item.seq, record_id=item.record_id, kind=RETIRE,
                         change=item.change, state=state,
                         category=record.category if record else "")


def build_changes(gw: Gateway, state: PolicyState, rule: SharingRule,
                  items: Sequence[OutboxItem]) -> tuple[list[pb.PeerChange], set[str]]:
    """The wire changes for queued items (decide and protect per record), and the
    released field names for the audit."""
    catalogue, today = state.catalogue, city_today(gw.clock)
    peer = catalogue.parties.get(rule.peer)
    audience = audience_of(peer) if peer is not None else "public"
    ctx = ConditionContext(consent_presented=False, subject_age=None, now=gw.clock.now())
    changes: list[pb.PeerChange] = []
    released_names: set[str] = set()
    records = gw.store.outbox_records([item.record_id for item in items])
    for item in items:
        record = records.get(item.record_id)
        if record is None or not in_use(record, today):
            gone = record.state if record is not None and record.state != ACTIVE else EXPIRED
            changes.append(_retirement(item, record, gone))
            continue
        category = catalogue.categories.get(record.category)
        detail = rule.send.get(record.category)
        decided = (state.engine.decide_fields(rule.peer, category, rule.purpose, ctx)
                   if category is not None and detail is not None else None)
        if category is None or decided is None or not decided.any_released:
            # Not (or no longer) shared with this peer: it must not keep the record.
            changes.append(_retirement(item, record, NOT_SHARED))
            continue
        access = {} if detail == SUMMARY else dict(decided.levels)
        released = protect_record(record, category=category, access=access,
                                  cipher=gw.cipher, profiles=state.profiles,
                                  audience=audience)
        released_names.update(released.released_field_names)
        change = pb.PeerChange(
            seq=item.seq, record_id=record.record_id, kind=UPSERT, change=item.change,
            subject_id=open_subject(record, gw.cipher), category=record.category,
            severity=record.severity, event_date=record.event_date.isoformat(),
            display_end=record.display_end.isoformat() if record.display_end else "",
            provider=record.provider, domain=record.domain, occupation=record.occupation,
            disputed=record.disputed, replaces=record.replaces)
        for f in released.fields:
            change.fields.add(name=f.name, value=f.value,
                              disclosure=_DISCLOSURE.get(f.disclosure, pb.MASKED))
        changes.append(change)
    return changes, released_names


class OutboxPusher:
    """Pushes every peer's queued changes from a background thread (or on demand)."""

    def __init__(self, gw: Gateway, *, holder: str, batch: int = 100,
                 lease_s: int = 30) -> None:
        self._gw = gw
        self._batch = batch
        self._lease_s = lease_s
        # The instance's id (its data directory's): restarted, it takes its lease back.
        self._holder = holder
        self._clients: dict[str, PeerClient] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # One push at a time in this process (the thread, or a caller's run_once).
        self._pushing = threading.Lock()
        # One pushing process per data folder (the workers of `serve --workers` share the
        # instance id, so the store's lease alone would not tell them apart); the OS
        # releases it when the process dies, so a restarted instance pushes at once.
        self._local_lock = gw.config.data_dir / "outbox.lock"
        self._local_fd: int | None = None

    def peers(self) -> list[SharingRule]:
        """The sharing rules this gateway pushes by (a peer with a trust bundle)."""
        trust = self._gw.peers
        return [rule for rule in self._gw.state.catalogue.sharing.values()
                if rule.send and trust is not None and rule.peer in trust.bundles]

    def _client(self, peer: str) -> PeerClient:
        client = self._clients.get(peer)
        if client is None:
            trust = self._gw.peers
            assert trust is not None
            client = PeerClient(self._gw.config.keys_dir, self._gw.config.platform_id,
                                trust.bundles[peer], clock=self._gw.clock)
            self._clients[peer] = client
        return client

    def push_once(self, rule: SharingRule) -> PushOutcome | None:
        """Push one batch of a peer's queued changes; None when there was nothing to push
        or another instance holds the peer. Raises CredgateError or grpc.RpcError (the
        changes stay queued)."""
        gw = self._gw
        now = gw.clock.now()
        now_s = int(now.timestamp())
        if not gw.store.claim_peer(rule.peer, holder=self._holder, now_s=now_s,
                                   until_s=now_s + self._lease_s):
            return None
        items = gw.store.outbox(rule.peer, limit=self._batch)
        if not items:
            return None
        state = gw.state
        changes, released = build_changes(gw, state, rule, items)
        batch_id = new_identifier("batch")
        request = pb.PushChangesRequest(batch_id=batch_id, changes=changes)
        client = self._client(rule.peer)
        signed = client.sign(request)
        categories = tuple(sorted({c.category for c in changes if c.category}))
        # 4. audit: durable before a single value leaves for the peer.
        seq = gw.audit.append(self._entry(
            state, rule, action=PUSH_ACTION, categories=categories,
            released=tuple(sorted(released)), count=len(changes), batch_id=batch_id,
            signature=signed.signature, reason=f"to {rule.peer}"))
        # 5. push (the peer verifies, audits and applies in order).
        answer = client.push(signed)
        details = answer.answer_signature
        # 6. acknowledge: the peer's entry and signature are evidence here too.
        gw.audit.append(self._entry(
            state, rule, action=ACK_ACTION, categories=categories, released=(),
            count=len(changes), batch_id=batch_id, signature=signed.signature,
            reason=(f"{rule.peer} audit_seq {answer.audit_seq} answer_signature "
                    f"{base64.b64encode(details.signature).decode('ascii')}")))
        gw.store.outbox_delivered(rule.peer, [item.seq for item in items])
        return PushOutcome(peer=rule.peer, sent=len(changes), applied=answer.applied,
                           skipped=answer.skipped, audit_seq=seq,
                           peer_audit_seq=answer.audit_seq, categories=categories)

    def _entry(self, state: PolicyState, rule: SharingRule, *, action: str,
               categories: tuple[str, ...], released: tuple[str, ...], count: int,
               batch_id: str, signature: RequestSignature, reason: str) -> AuditEntry:
        gw = self._gw
        return AuditEntry(
            time=gw.clock.now(), trace_id="", requester=gw.config.platform_id or "gateway",
            action=action, purpose=rule.purpose, subject_index="", categories=categories,
            fields_released=released, consent_id="", policy_rule=f"sharing.toml {rule.peer}",
            policy_version=state.version, decision="allow", reason=reason,
            request_id=batch_id, record_count=count, request_signature=signature.audit_text())

    def drain(self, *, rounds: int = 1000) -> int:
        """Push until every peer's queue is empty (or unreachable); the changes sent."""
        sent = 0
        for _ in range(rounds):
            now = self.run_once()
            if not now:
                return sent
            sent += now
        return sent

    def run_once(self) -> int:
        """Queue ended displays, then push one batch to every peer; the changes sent."""
        with self._pushing:
            return self._run_once()

    def _holds_local_lock(self) -> bool:
        if self._local_fd is not None:
            return True
        fd = os.open(self._local_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._local_fd = fd
        return True

    def _run_once(self) -> int:
        gw = self._gw
        if not self._holds_local_lock():
            return 0  # another worker of this instance pushes
        sent = 0
        try:
            gw.store.queue_display_ends(city_today(gw.clock), at=rfc3339(gw.clock.now()))
        except CredgateError as err:
            log.warning("display ends not queued: %s", err.reason or err.status)
        for rule in self.peers():
            try:
                outcome = self.push_once(rule)
            except (CredgateError, grpc.RpcError) as err:
                log.warning("push to %s failed: %s", rule.peer, _why(err))
                self._drop(rule.peer)
                continue
            sent += outcome.sent if outcome is not None else 0
        return sent

    def wake(self) -> None:
        """Push soon (a change was just queued)."""
        self._wake.set()

    def start(self) -> None:
        """Push in a background thread until closed."""
        self._thread = threading.Thread(target=self._run, name="credgate-outbox", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self._gw.config.peer_push_interval_s
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:  # the thread must live on: the outbox stays queued
                log.error("outbox pusher: %s", type(exc).__name__)
                busy = 0
            if not busy:
                self._wake.wait(interval)
                self._wake.clear()

    def _drop(self, peer: str) -> None:
        client = self._clients.pop(peer, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Stop the thread and close the channels (closing twice is harmless)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for peer in list(self._clients):
            self._drop(peer)
        if self._local_fd is not None:
            os.close(self._local_fd)  # releases the lock
            self._local_fd = None


def _why(err: Exception) -> str:
    if isinstance(err, grpc.RpcError):
        return str(err.code())
    if isinstance(err, CredgateError):
        return err.reason or err.status
    return type(err).__name__
