"""Asking peer platforms during a check, within a time budget (issue 18 item 4).

A joint punishment or green channel check answers from this platform's records; for a
person whose records live elsewhere it also asks the configured peers (the province)
the same check, all at once, each within the budget. 「一处失信，处处受限」: one peer that
finds the person restricted (or not eligible) decides the answer. A peer that cannot be
reached, refuses or does not answer within the budget leaves the answer *incomplete*
unless another part of it already decided: never a silent clean answer. The green
channel combines the answers conservatively: not eligible at a peer is not eligible here,
even where a positive record here might have outweighed a general negative one there.

`ask_peers` runs plain function calls (each returns the peer's yes/no and its audit
sequence number, or raises); `PeerCheckClient` makes them over the peer's CheckService.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Protocol

from gateway.api import pb
from gateway.client import CredgateClient
from gateway.clock import Clock
from gateway.errors import ConfigurationError
from gateway.identify.trust import PeerTrust
from gateway.peers.client import platform_credentials

#: One peer's check: given the seconds left, (whether it decides against the person,
#: the peer's audit sequence number of its answer). Raises when it cannot answer.
PeerCheck = Callable[[float], tuple[bool, int]]


class PeerAsker(Protocol):
    """A peer platform that answers the checks (a signed, verified channel to it)."""

    def joint_punishment(self, subject_id: str, measure: str, *, timeout: float
                         ) -> tuple[bool, int]:
        """Whether the measure restricts the person at the peer, and the peer's audit seq."""
        ...

    def green_channel(self, subject_id: str, *, timeout: float) -> tuple[bool, int]:
        """Whether the person is NOT eligible at the peer, and the peer's audit seq."""
        ...


@dataclass(frozen=True)
class PeerVerdict:
    """What the peers asked said, as far as they said it in time."""

    #: A peer found the person restricted (joint punishment) or not eligible (green
    #: channel): the combined answer is decided against the person.
    decided_against: bool = False
    #: Peers that did not answer in time, could not be reached or refused.
    unanswered: tuple[str, ...] = ()
    #: The audit sequence number of each peer's answer (for this side's audit entry).
    answered: Mapping[str, int] = field(default_factory=dict)

    def complete(self) -> bool:
        """Whether the combined answer is final: decided, or every peer answered."""
        return self.decided_against or not self.unanswered

    def audit_note(self) -> str:
        """The peers' part of this side's audit reason (peer ids and sequence numbers)."""
        parts = [f"{peer} seq {seq}" for peer, seq in sorted(self.answered.items())]
        parts += [f"{peer} unanswered" for peer in self.unanswered]
        return "peers: " + ", ".join(parts) if parts else ""


def ask_peers(checks: Mapping[str, PeerCheck], *, budget_s: float,
              pool: ThreadPoolExecutor) -> PeerVerdict:
    """Ask every peer at once and wait at most `budget_s` in all; stop waiting as soon as
    one peer decides against the person. Never raises: a failure is an unanswered peer."""
    if not checks:
        return PeerVerdict()
    deadline = monotonic() + budget_s
    pending: dict[Future[tuple[bool, int]], str] = {
        pool.submit(check, budget_s): peer for peer, check in checks.items()}
    answered: dict[str, int] = {}
    failed: list[str] = []
    against = False
    while pending and not against:
        left = deadline - monotonic()
        if left <= 0:
            break
        done, _ = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        for future in done:
            peer = pending.pop(future)
            try:
                decided, seq = future.result()
            except Exception:  # unreachable, refused, a bad signature: all unanswered
                failed.append(peer)
                continue
            answered[peer] = seq
            against = against or decided
    for future in pending:
        future.cancel()  # a late answer is dropped; the call ends at its own deadline
    unanswered = tuple(sorted([*failed, *pending.values()]))
    return PeerVerdict(decided_against=against, unanswered=unanswered, answered=answered)


class PeerLinks:
    """This platform's signed, verified channels to its peers (one each, opened when first
    needed), for checks and forwarded objections; built from the trust bundles."""

    def __init__(self, *, keys_dir: Path | None = None, platform_id: str = "",
                 peers: PeerTrust | None = None, clock: Clock | None = None) -> None:
        self._keys_dir, self._platform_id, self._peers = keys_dir, platform_id, peers
        self._clock = clock
        self._clients: dict[str, CredgateClient] = {}
        self._lock = threading.Lock()

    def client(self, peer: str) -> CredgateClient:
        """The channel to a peer as this platform; raises ConfigurationError when its
        bundle gives no address or answer key, or this gateway has no platform_id."""
        with self._lock:
            if peer in self._clients:
                return self._clients[peer]
            bundle = self._peers.bundles.get(peer) if self._peers is not None else None
            if bundle is None or not self._platform_id or self._keys_dir is None:
                raise ConfigurationError(f"no trust bundle for peer {peer!r} (keys/peers/), "
                                         "or no platform_id for this gateway")
            address = bundle.address()
            if address is None or bundle.answer_key_file is None:
                raise ConfigurationError(f"the trust bundle of {peer} needs peer.toml (where "
                                         "to call it) and answer.pub (to check its answers)")
            client = CredgateClient(
                address.target, platform_credentials(self._keys_dir, self._platform_id,
                                                     bundle),
                server_name=address.server_name, clock=self._clock)
            self._clients[peer] = client
            return client

    def close(self) -> None:
        """Close every channel."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


@dataclass
class PeerAskers:
    """The peers this gateway's checks consult, the threads their calls run on, and the
    channels to every peer."""

    askers: dict[str, PeerAsker] = field(default_factory=dict)
    budget_s: float = 2.0
    pool: ThreadPoolExecutor | None = None
    links: PeerLinks = field(default_factory=PeerLinks)

    def ask(self, question: Callable[[PeerAsker, float], tuple[bool, int]], *,
            asking_party_is_platform: bool) -> PeerVerdict:
        """Ask every peer the question within the budget. A check a peer platform asks is
        answered from this platform's records alone: peers never ask each other in turn."""
        if not self.askers or asking_party_is_platform:
            return PeerVerdict()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="peer-ask")
        checks = {peer: (lambda left, a=asker: question(a, left))
                  for peer, asker in self.askers.items()}
        return ask_peers(checks, budget_s=self.budget_s, pool=self.pool)

    def close(self) -> None:
        """Stop the pool and close the peers' channels."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.links.close()


class PeerCheckClient:
    """Asks one peer platform's CheckService as this platform: mTLS with this platform's
    certificate, signed calls, answers checked against the peer's answer key."""

    def __init__(self, peer: str, client: CredgateClient) -> None:
        self.peer = peer
        self._client = client

    def joint_punishment(self, subject_id: str, measure: str, *, timeout: float
                         ) -> tuple[bool, int]:
        """Whether the measure restricts the person at the peer, and its audit seq; raises
        grpc.RpcError, BadSignature, or PeerIncomplete when the peer could not tell."""
        reply = self._client.joint_punishment(subject_id, measure, timeout=timeout)
        return _decided(reply.restricted, reply), reply.audit_seq

    def green_channel(self, subject_id: str, *, timeout: float) -> tuple[bool, int]:
        """Whether the person is not eligible at the peer, and its audit seq; raises as
        joint_punishment does."""
        reply = self._client.green_channel(subject_id, timeout=timeout)
        return _decided(not reply.eligible, reply), reply.audit_seq


class PeerIncomplete(Exception):
    """The peer's own answer was incomplete and clean: it counts as no answer."""


def _decided(against: bool, reply: pb.GreenChannelResponse | pb.JointPunishmentResponse
             ) -> bool:
    if not against and reply.completeness != pb.Completeness.COMPLETE:
        raise PeerIncomplete(reply.completeness)
    return against


def open_peer_askers(*, keys_dir: Path, platform_id: str, peers: PeerTrust | None,
                     ask_peer: str, budget_s: float, clock: Clock) -> PeerAskers:
    """The channels to the peers, and the asker config names (ask_peer); raises
    ConfigurationError when that peer cannot be asked."""
    links = PeerLinks(keys_dir=keys_dir, platform_id=platform_id, peers=peers, clock=clock)
    if not ask_peer:
        return PeerAskers(budget_s=budget_s, links=links)
    asker = PeerCheckClient(ask_peer, links.client(ask_peer))
    return PeerAskers(askers={ask_peer: asker}, budget_s=budget_s, links=links)


def askers_of(gateway_askers: object) -> PeerAskers:
    """The gateway's peer askers (Gateway.peer_askers), or none when not opened."""
    return gateway_askers if isinstance(gateway_askers, PeerAskers) else PeerAskers()
