"""Development platforms: a key set with its own CA and a policies folder that names its
peers, for the demo, the benchmark and the tests (never for production: the keys are
development keys, made on the spot).

The city runs the shipped policies (policies/sharing.toml sends to the province and the
financial credit base); a province runs a copy in which the city is a peer platform and
whose sharing.toml sends its own listings down to the city.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from gateway.catalogue.registry import Party, load_catalogue
from gateway.client import PartyCredentials
from gateway.config import shipped
from gateway.crypto.key_files import add_party_keys, init_keys
from gateway.identify.trust import export_bundle

CITY, PROVINCE, PBOC = "city", "province", "pboc_branch"

PEER_PARTY = """
[parties.{id}]
name = "Peer platform {id}"
name_zh = "对等平台"
kind = "platform"
roles = ["platform"]
"""

#: What a province shares with the city (and takes from it).
PROVINCE_SHARING = """
[sharing.city]
purpose = "platform_sharing"
send = { dishonest_debtor = "full" }
receive = ["dishonest_debtor", "major_tax_violation", "financial_dishonesty", "admin_penalty"]
"""
#: What the financial credit base's platform takes from the city.
PBOC_SHARING = """
[sharing.city]
purpose = "platform_sharing"
receive = ["dishonest_debtor"]
"""


@dataclass(frozen=True)
class Platform:
    """One platform's folders: its keys (own CA) and its policies."""

    name: str
    keys: Path
    policies: Path

    def credentials_at(self, other: Platform, party: str | None = None) -> PartyCredentials:
        """This platform's credentials of `party` (its own identity by default) for
        calling `other`."""
        party = party or self.name
        parties = self.keys / "parties"
        return PartyCredentials(party=party, ca=other.keys / "ca.crt",
                                cert=parties / f"{party}.crt", key=parties / f"{party}.key",
                                signing_key=parties / f"{party}.sign.key",
                                answer_key=other.keys / "gateway.answer.pub")


def make_platform(root: Path, name: str, *, peers: tuple[str, ...] = (),
                  sharing: str | None = None) -> Platform:
    """A key set with its own CA under root/name and a policies folder naming `peers` as
    platforms; `sharing` replaces sharing.toml (None keeps the shipped one). The
    platform's own identity at its peers gets a certificate from its own CA."""
    policies = root / name / "policies"
    shutil.copytree(shipped("policies"), policies)
    parties_file = policies / "parties.toml"
    for peer in peers:
        if f"[parties.{peer}]" not in parties_file.read_text("utf-8"):
            with parties_file.open("a", encoding="utf-8") as out:
                out.write(PEER_PARTY.format(id=peer))
    if sharing is not None:
        (policies / "sharing.toml").write_text(sharing, encoding="utf-8")
    catalogue = load_catalogue(policies)
    keys = root / name / "keys"
    init_keys(keys, catalogue.parties.values())
    if not (keys / "parties" / f"{name}.crt").exists():  # PBOC has its party keys already
        add_party_keys(keys, Party(id=name, name=f"{name} platform", name_zh="平台",
                                   kind="platform", roles=("platform",)))
    return Platform(name=name, keys=keys, policies=policies)


def trust(receiver: Platform, sender: Platform, *, target: str = "") -> None:
    """Install `sender`'s trust bundle at `receiver` (with the address to call it at)."""
    export_bundle(sender.keys, sender.name, receiver.keys / "peers" / sender.name,
                  target=target, server_name="localhost" if target else "")


def city_and_province(root: Path) -> tuple[Platform, Platform]:
    """The city (shipped policies) and the province (the city as its peer)."""
    city = make_platform(root, CITY)
    province = make_platform(root, PROVINCE, peers=(CITY,), sharing=PROVINCE_SHARING)
    return city, province
