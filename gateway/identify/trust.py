"""Per-peer trust bundles, in the spirit of X-Road's global configuration.

A peer platform runs its own CA. Its bundle is a folder ``<keys>/peers/<peer id>/``:

    ca.crt       the CA certificate(s) that issue the peer's certificates (PEM)
    sign.pub     the peer's request-signing public key (verifies the calls it makes)
    answer.pub   the peer gateway's answer key (verifies what it answers; optional)
    peer.toml    where to reach it: target = "host:port", server_name = "..." (optional;
                 a peer this gateway only hears from needs none)

The TLS layer accepts client certificates from the gateway's own CA and from every
bundle's anchors; then, at identify, the issuer decides what a certificate may name:

1. a certificate issued by a peer's anchors names that peer and nothing else;
2. a party with the role ``platform`` is accepted only with a certificate from its own
   bundle (never one the gateway's own CA issued);
3. every other party's certificate comes from the gateway's own CA.

The issuer is found by checking the leaf's signature against each anchor (a bundle
holds the CA that directly issues the peer's certificates).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from msgspec import Meta

from gateway.catalogue.registry import Party
from gateway.catalogue.sharing import PLATFORM_ROLE
from gateway.crypto.certificates import (
    TrustAnchor,
    UnreadableCertificate,
    issuing_anchor,
    load_trust_anchors,
)
from gateway.crypto.signatures import PartyVerifyKey, load_party_verify_key
from gateway.errors import ConfigurationError, Unauthenticated
from gateway.strict_toml import Table, decode, read_toml

#: The trust domain of the gateway's own CA.
OWN = ""
BUNDLE_FILES = ("ca.crt", "sign.pub", "answer.pub", "peer.toml")


class PeerFile(Table):
    """peer.toml: where the peer gateway listens (server_name: default, target's host)."""

    target: Annotated[str, Meta(min_length=1, description='"host:port"')]
    server_name: Annotated[str, Meta(min_length=1, description="a host name")] | None = None


def _anchors(path: Path) -> tuple[TrustAnchor, ...]:
    try:
        return load_trust_anchors(path.read_bytes())
    except OSError:
        raise ConfigurationError(f"{path} must hold the PEM CA certificate(s) of a trust "
                                 "domain") from None
    except UnreadableCertificate as exc:
        if exc.part == "anchor":
            raise ConfigurationError(f"{path}: a trust anchor must be a CA certificate") from None
        raise ConfigurationError(f"{path} must hold the PEM CA certificate(s) of a trust "
                                 "domain") from None


@dataclass(frozen=True)
class PeerAddress:
    """Where a peer gateway listens and the name its server certificate carries."""

    target: str
    server_name: str


@dataclass(frozen=True)
class PeerBundle:
    """One peer's trust anchors, keys and (where this gateway calls it) address."""

    peer: str
    directory: Path
    anchors: tuple[TrustAnchor, ...]
    sign_key: PartyVerifyKey | None

    @property
    def ca_file(self) -> Path:
        """The PEM file of the peer's anchors (the channel to it trusts only these)."""
        return self.directory / "ca.crt"

    @property
    def answer_key_file(self) -> Path | None:
        """The peer gateway's answer public key file, when the bundle has one."""
        path = self.directory / "answer.pub"
        return path if path.exists() else None

    def address(self) -> PeerAddress | None:
        """The peer's address from peer.toml, read now (None: the bundle gives none);
        raises ConfigurationError when the file is malformed."""
        path = self.directory / "peer.toml"
        if not path.exists():
            return None
        doc, text = read_toml(path, str(path))
        peer = decode(doc, PeerFile, file=str(path), text=text)
        return PeerAddress(target=peer.target,
                           server_name=peer.server_name or peer.target.rsplit(":", 1)[0])


class PeerTrust:
    """The gateway's own anchors and every peer's bundle; finds a certificate's issuer."""

    def __init__(self, own_anchors: tuple[TrustAnchor, ...],
                 bundles: Mapping[str, PeerBundle]) -> None:
        self.own_anchors = own_anchors
        self.bundles = dict(bundles)
        self._domains: dict[bytes, str] = {}
        self._lock = threading.Lock()
        seen: dict[bytes, str] = {}
        for domain, anchors in ((OWN, own_anchors),
                                *((b.peer, b.anchors) for b in self.bundles.values())):
            for anchor in anchors:
                der = anchor.der
                if der in seen and seen[der] != domain:
                    raise ConfigurationError(
                        f"the CA certificate of {domain or 'this gateway'} is also a trust "
                        f"anchor of {seen[der] or 'this gateway'}: each trust domain needs its "
                        "own CA")
                seen[der] = domain

    def root_certificates(self) -> bytes:
        """Every anchor as one PEM bundle: what the TLS layer accepts client certs from."""
        return b"".join(a.pem for a in
                        (*self.own_anchors, *(x for b in self.bundles.values()
                                               for x in b.anchors)))

    def verify_keys(self) -> dict[str, PartyVerifyKey]:
        """The request-signing keys of the peers whose bundle has one."""
        return {peer: b.sign_key for peer, b in self.bundles.items() if b.sign_key is not None}

    def domain_of(self, pem: bytes) -> str:
        """The trust domain ("" own CA, else a peer id) whose anchor issued a certificate;
        raises Unauthenticated when none did."""
        with self._lock:
            known = self._domains.get(pem)
        if known is not None:
            return known
        domain = self._issuer(pem)
        with self._lock:
            if len(self._domains) >= 1024:
                self._domains.clear()
            self._domains[pem] = domain
        return domain

    def _issuer(self, pem: bytes) -> str:
        domains = [(OWN, self.own_anchors),
                   *((b.peer, b.anchors) for b in self.bundles.values())]
        flat = [(domain, anchor) for domain, anchors in domains for anchor in anchors]
        try:
            found = issuing_anchor(pem, [anchor for _, anchor in flat])
        except UnreadableCertificate:
            raise Unauthenticated("the client certificate cannot be parsed",
                                  reason="bad_certificate") from None
        if found is not None:
            return flat[found][0]
        raise Unauthenticated("the client certificate was issued by no trusted CA",
                              reason="untrusted_issuer")


def check_issuer(party: Party, pem: bytes, trust: PeerTrust | None) -> None:
    """Refuse a certificate issued outside the party's own trust domain (the rules in the
    module docstring); raises Unauthenticated."""
    platform = PLATFORM_ROLE in party.roles
    if trust is None:
        if platform:  # no bundles at all: no certificate can be a peer's
            raise _mismatch()
        return
    domain = trust.domain_of(pem)
    if domain != (party.id if platform else OWN):
        raise _mismatch()


def _mismatch() -> Unauthenticated:
    return Unauthenticated("the certificate's issuer may not name this party",
                           reason="issuer_mismatch")


def load_peer_trust(keys_dir: Path) -> PeerTrust | None:
    """The bundles under ``<keys>/peers/`` with the own CA, or None when there are none;
    raises ConfigurationError for a bundle that cannot be read."""
    peers_dir = keys_dir / "peers"
    if not peers_dir.is_dir():
        return None
    bundles: dict[str, PeerBundle] = {}
    for directory in sorted(p for p in peers_dir.iterdir() if p.is_dir()):
        sign = directory / "sign.pub"
        bundles[directory.name] = PeerBundle(
            peer=directory.name, directory=directory, anchors=_anchors(directory / "ca.crt"),
            sign_key=load_party_verify_key(sign) if sign.exists() else None)
    if not bundles:
        return None
    return PeerTrust(_anchors(keys_dir / "ca.crt"), bundles)


def export_bundle(keys_dir: Path, platform_id: str, out_dir: Path, *, target: str = "",
                  server_name: str = "") -> None:
    """Write this gateway's trust bundle for a peer to install as ``peers/<platform_id>/``:
    its CA, its platform signing key, its answer key and (given a target) its address."""
    out_dir.mkdir(parents=True, exist_ok=True)
    answer = keys_dir / "gateway.answer.pub"
    sources = {"ca.crt": keys_dir / "ca.crt",
               "sign.pub": keys_dir / "parties" / f"{platform_id}.sign.pub",
               "answer.pub": answer if answer.exists() else keys_dir / "gateway.log.pub"}
    for name, source in sources.items():
        try:
            (out_dir / name).write_bytes(source.read_bytes())
        except OSError:
            raise ConfigurationError(f"cannot read {source.name} for the trust bundle",
                                     detail=str(source)) from None
    if target:
        lines = [f'target = "{target}"']
        if server_name:
            lines.append(f'server_name = "{server_name}"')
        (out_dir / "peer.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
