"""Development PKI and keys (`credgate keys init`): a CA, TLS certificates, signing keys.

Everything here is for development and tests. The committed set under ``keys_example/``
is public, so anyone can impersonate any party or decrypt any value protected by it.
Production keys are made on the production machines and never leave them.

The PKI: one development CA (ECDSA P-256) issues the gateway's server certificate
(serverAuth, subjectAltName from ``server_names``) and one client certificate per party
(clientAuth, CN = party id exactly, O = the party's English name). The party's CN is
its identity at the gateway (see policies/parties.toml). A second, unrelated CA and a
certificate for a party id that is not registered exist only so tests can show that
the handshake and the gateway refuse them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import nacl.signing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.crypto.keyring import (
    DATA_KEYS_FILE,
    Keyring,
    generate_keyring_toml,
    keyring_toml,
    new_key_id,
)
from gateway.crypto.log_key import LOG_KEY_FILE, LOG_PUBLIC_FILE, token_reference_text
from gateway.crypto.sealing import generate_box_key
from gateway.crypto.signatures import format_key_file, key_id
from gateway.crypto.signers import (
    Signer,
    generate_signer,
    signer_file_text,
    verifier_file_text,
)
from gateway.crypto.suites import INTERNATIONAL, suite
from gateway.crypto.token import Token, TokenKey, TokenSettings, TokenSigner
from gateway.errors import ConfigurationError

#: The role of a peer platform (gateway.catalogue.sharing.PLATFORM_ROLE; the key files sit
#: below the catalogue and name it here).
PLATFORM_ROLE = "platform"


class Party(Protocol):
    """What a key file needs of a party: its id (file names, CN) and its name."""

    @property
    def id(self) -> str:
        """The party id: its certificate CN and file stem."""

    @property
    def name(self) -> str:
        """The party's name, in its certificate's organisation."""

    @property
    def roles(self) -> tuple[str, ...]:
        """The party's roles: a peer platform's certificates come from its own CA."""

__all__ = ["MARKER_FILE", "PARTY_URI_PREFIX", "UNKNOWN_PARTY", "add_party_keys", "check_key_files",
           "init_keys"]

MARKER_FILE = "DEVELOPMENT-ONLY-DO-NOT-USE-IN-PRODUCTION"
DEV_WARNING = "DEVELOPMENT KEY - NEVER USE IN PRODUCTION"
CA_NAME = "credgate development CA (NOT FOR PRODUCTION)"
UNTRUSTED_CA_NAME = "credgate UNTRUSTED test CA (NOT FOR PRODUCTION)"
#: A party id that chains to the real CA but is absent from the registry (for tests).
UNKNOWN_PARTY = "unknown_party"
#: Client certificates also carry the subjectAltName URI <prefix><party id>.
PARTY_URI_PREFIX = "urn:credgate:party:"
# Party ids become file names and certificate CNs: keep them plain.
_PARTY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Comment lines before the PEM block of development private keys. Checked to load in
# cryptography and in gRPC's BoringSSL (tests/crypto/test_keys.py does a handshake).
_PEM_PREAMBLE = f"# {DEV_WARNING}\n# credgate development key, published with the source code.\n"


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _PEM_PREAMBLE.encode("ascii") + pem


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write a file with mode 0600 (private) or 0644, replacing what was there.

    The bytes go to a new file created with its final mode, which then replaces the old
    one: a secret never sits in a file that an earlier, looser mode left readable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if private else 0o644
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # the umask may have narrowed or kept it
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _name(common_name: str, organisation: str = "credgate development") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class _Issuer:
    """A CA key and certificate that sign leaf certificates."""

    def __init__(self, common_name: str, *, now: datetime, valid_days: int) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.now, self.valid_days = now, valid_days
        name = _name(common_name)
        public = self.key.public_key()
        self.cert = (
            self._builder(name, name, public)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @classmethod
    def load(cls, directory: Path, *, now: datetime, valid_days: int) -> _Issuer:
        """The CA already in a keys folder (ca.key, ca.crt), to issue more leaves."""
        issuer = cls.__new__(cls)
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError("ca.key is not an ECDSA key")
        issuer.key = key
        issuer.cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        issuer.now, issuer.valid_days = now, valid_days
        return issuer

    def _builder(
        self, subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - timedelta(hours=1))
            .not_valid_after(self.now + timedelta(days=self.valid_days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )

    def issue(
        self,
        subject: x509.Name,
        *,
        usage: x509.ObjectIdentifier,
        alt_names: Sequence[x509.GeneralName] = (),
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A fresh key and a leaf certificate for it, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            self._builder(subject, self.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())

    def write_leaf(
        self,
        directory: Path,
        stem: str,
        subject: x509.Name,
        *,
        usage: x509.ObjectIdentifier,
        alt_names: Sequence[x509.GeneralName] = (),
    ) -> None:
        """Issue a leaf and write ``<stem>.crt`` and ``<stem>.key`` under a directory."""
        key, cert = self.issue(subject, usage=usage, alt_names=alt_names)
        _write(directory / f"{stem}.crt", _cert_pem(cert), private=False)
        _write(directory / f"{stem}.key", _private_pem(key), private=True)


def _alt_names(server_names: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name in server_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    if not names:
        raise ConfigurationError("the gateway certificate needs at least one server name")
    return names


def _party_uri(party_id: str) -> x509.GeneralName:
    """The party's subjectAltName. RFC 5280 path validators (e.g. cryptography's
    ClientVerifier) require a SAN on client certificates; the CN stays the identity."""
    return x509.UniformResourceIdentifier(f"{PARTY_URI_PREFIX}{party_id}")


def _write_suite_signing_pair(directory: Path, stem: str, owner: str, suite_name: str) -> None:
    """Write ``<stem>.key`` and ``<stem>.pub`` with the signature algorithm of a suite."""
    signer = generate_signer(suite(suite_name).signature)
    name = signer.algorithm.upper() if signer.algorithm == "sm2" else "Ed25519"
    kid = signer.public.key_id
    private = signer_file_text(signer, comments=(
        DEV_WARNING, f"credgate {name} signing key of {owner}", f"key id {kid}"))
    public = verifier_file_text(signer.public, comments=(
        f"credgate {name} public key of {owner}", f"key id {kid}"))
    _write(directory / f"{stem}.key", private.encode("ascii"), private=True)
    _write(directory / f"{stem}.pub", public.encode("ascii"), private=False)


def _write_signing_pair(directory: Path, stem: str, owner: str) -> None:
    """Write ``<stem>.key`` (Ed25519 seed) and ``<stem>.pub`` for an owner."""
    key = nacl.signing.SigningKey.generate()
    kid = key_id(key.verify_key)
    private = format_key_file(
        key,
        comments=(DEV_WARNING, f"credgate Ed25519 signing key of {owner} (base64 seed)",
                  f"key id {kid}"),
    )
    public = format_key_file(
        key.verify_key,
        comments=(f"credgate Ed25519 public key of {owner} (base64, 32 bytes)", f"key id {kid}"),
    )
    _write(directory / f"{stem}.key", private.encode("ascii"), private=True)
    _write(directory / f"{stem}.pub", public.encode("ascii"), private=False)


_README = """\
##############################################################################
##                                                                          ##
##         DEVELOPMENT KEYS ONLY - NEVER USE IN PRODUCTION                  ##
##                                                                          ##
##############################################################################

Every private key in this directory is published with the source code. Anyone
can impersonate any party, sign consents and decrypt any value protected by
these keys. Production keys are generated on the production machines and are
never committed.

Made by `credgate keys init` (gateway/crypto/key_files.py) on {date}. Certificates are valid for
{days} days. Private key files (mode 0600) start with the comment line
"# {warning}".

ca.crt, ca.key              development CA (ECDSA P-256): "{ca}"
gateway.crt, gateway.key    gateway TLS server certificate (serverAuth), signed by the CA;
                            subjectAltName: {sans}
gateway.log.key/.pub        gateway key that signs log checkpoints, manifests and reports
                            ({suite} suite: {answer_algorithm})
gateway.answer.key/.pub     gateway key that signs answers ({suite} suite: {answer_algorithm})
data-keys.toml              data keys of the {suite} suite: master keys (field envelope
                            encryption), blind-index and pseudonym keys (format in the file)
parties/<id>.crt, .key      TLS client certificate per party (clientAuth), signed by the CA;
                            CN = party id exactly, O = the party's English name,
                            subjectAltName URI {uri}<id>
parties/<id>.sign.key/.pub  Ed25519 key pair per party (consent artefacts, request signatures)
parties/{unknown}.crt/.key  signed by the CA for a party id NOT in the registry: the gateway
                            must refuse it (UNAUTHENTICATED) - for tests
untrusted/ca.crt            a second, unrelated CA - for tests
untrusted/court.crt/.key    client certificate with CN "court" signed by the untrusted CA:
                            the TLS handshake must refuse it - for tests
{marker}
                            empty marker file

Ed25519 key files: comment lines starting with "#", then one line of base64 of the raw
32 bytes (the seed for .key, the public key for .pub).
"""


def init_keys(
    directory: Path,
    parties: Iterable[Party],
    *,
    force: bool = False,
    server_names: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    valid_days: int = 3650,
    now: datetime | None = None,
    suite_name: str = INTERNATIONAL,
) -> None:
    """Create the development CA, certificates and keys; raises ConfigurationError if the
    directory is not empty (unless ``force``, which overwrites), or a party id is unusable.

    ``suite_name`` ("international" or "gm") chooses the data keys' and the answer key's
    algorithms."""
    directory = Path(directory)
    chosen = suite(suite_name)
    parties = list(parties)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigurationError(f"{directory} is not empty; use force to overwrite its keys")
    for party in parties:
        if not _PARTY_ID.fullmatch(party.id) or party.id == UNKNOWN_PARTY:
            raise ConfigurationError(f"party id {party.id!r} cannot be used for a certificate")
    if valid_days < 1:
        raise ConfigurationError("valid_days must be at least 1")
    alt_names = _alt_names(server_names)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    party_dir, untrusted_dir = directory / "parties", directory / "untrusted"

    ca = _Issuer(CA_NAME, now=now, valid_days=valid_days)
    _write(directory / "ca.crt", _cert_pem(ca.cert), private=False)
    _write(directory / "ca.key", _private_pem(ca.key), private=True)
    ca.write_leaf(
        directory, "gateway", _name("credgate gateway (development)"),
        usage=ExtendedKeyUsageOID.SERVER_AUTH, alt_names=alt_names,
    )
    # Under gm the log key is SM2 too: checkpoints, manifests and reports follow the suite.
    _write_suite_signing_pair(directory, "gateway.log", "the gateway, for log checkpoints",
                              chosen.name)
    _write_suite_signing_pair(directory, "gateway.answer", "the gateway, for answers",
                              chosen.name)
    _write(
        directory / DATA_KEYS_FILE,
        generate_keyring_toml(development=True, suite_name=chosen.name).encode("utf-8"),
        private=True,
    )

    for party in parties:
        if PLATFORM_ROLE in party.roles:
            continue  # a peer platform's certificates come from its own CA (peers/<id>/)
        ca.write_leaf(
            party_dir, party.id, _name(party.id, party.name),
            usage=ExtendedKeyUsageOID.CLIENT_AUTH, alt_names=[_party_uri(party.id)],
        )
        if chosen.name == INTERNATIONAL:
            _write_signing_pair(party_dir, f"{party.id}.sign", f"party {party.id}")
        else:  # consent artefacts and request signatures in the suite's algorithm (SM2)
            _write_suite_signing_pair(party_dir, f"{party.id}.sign", f"party {party.id}",
                                      chosen.name)
    ca.write_leaf(
        party_dir, UNKNOWN_PARTY, _name(UNKNOWN_PARTY, "Unregistered party (test only)"),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH, alt_names=[_party_uri(UNKNOWN_PARTY)],
    )

    court = next((party.name for party in parties if party.id == "court"), "court")
    untrusted = _Issuer(UNTRUSTED_CA_NAME, now=now, valid_days=valid_days)
    _write(untrusted_dir / "ca.crt", _cert_pem(untrusted.cert), private=False)
    untrusted.write_leaf(
        untrusted_dir, "court", _name("court", court),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH, alt_names=[_party_uri("court")],
    )

    readme = _README.format(
        date=now.date().isoformat(), days=valid_days, warning=DEV_WARNING, ca=CA_NAME,
        sans=", ".join(server_names), uri=PARTY_URI_PREFIX, unknown=UNKNOWN_PARTY,
        marker=MARKER_FILE, suite=chosen.name, answer_algorithm=chosen.signature,
    )
    _write(directory / "README.txt", readme.encode("utf-8"), private=False)
    _write(directory / MARKER_FILE, b"", private=False)


def add_party_keys(directory: Path, party: Party, *, valid_days: int = 3650,
                   now: datetime | None = None) -> None:
    """Issue a certificate and signing pair for one new party with the folder's existing CA
    (the other keys stay as they are); raises ConfigurationError if the party has keys."""
    directory = Path(directory)
    if not _PARTY_ID.fullmatch(party.id) or party.id == UNKNOWN_PARTY:
        raise ConfigurationError(f"party id {party.id!r} cannot be used for a certificate")
    party_dir = directory / "parties"
    if (party_dir / f"{party.id}.crt").exists():
        raise ConfigurationError(f"party {party.id} already has keys")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ca = _Issuer.load(directory, now=now, valid_days=valid_days)
    ca.write_leaf(party_dir, party.id, _name(party.id, party.name),
                  usage=ExtendedKeyUsageOID.CLIENT_AUTH, alt_names=[_party_uri(party.id)])
    _write_signing_pair(party_dir, f"{party.id}.sign", f"party {party.id}")


#: The gateway's own secrets in a keys folder: who reads them reads every record.
GATEWAY_SECRETS = ("data-keys.toml", "gateway.key", "gateway.log.key", "gateway.answer.key")


def check_key_files(keys_dir: Path) -> bool:
    """Refuse gateway secrets readable by other users; True for a development key set.

    A set that ``init_keys`` made carries the DEVELOPMENT-ONLY marker and is let through
    (the caller warns): its files come from a checkout, where modes are not kept.
    """
    if (keys_dir / MARKER_FILE).exists():
        return True
    for name in GATEWAY_SECRETS:
        path = keys_dir / name
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue  # the loaders name what is missing
        if mode & 0o077:
            raise ConfigurationError(f"{path} may be read by other users (mode "
                                     f"{mode & 0o777:o}); make it 600")
    return False


def init_token_keys(directory: Path, settings: TokenSettings, *, pin: str | None = None
                    ) -> Keyring:
    """Create a master key, a blind-index key and the log key in a PKCS#11 token and
    write the data-keys.toml and gateway.log.key that name them (the pseudonym key stays
    in the file; gateway.log.pub gets the log key's public half).

    The token must exist and be initialised (for SoftHSM2: ``softhsm2-util --init-token``);
    its PIN comes from ``pin`` or the settings' variable. Raises ConfigurationError when
    the token cannot be opened.
    """
    token = Token(settings, pin=pin)
    master_id, index_id = new_key_id("mk"), new_key_id("bi")
    token.create_aes_key(master_id)
    token.create_hmac_key(index_id)
    pseudonym_id = new_key_id("ps")
    keyring = Keyring(
        master_keys={master_id: TokenKey(token, master_id, "aes")}, active_master_id=master_id,
        index_keys={index_id: TokenKey(token, index_id, "hmac")}, active_index_id=index_id,
        pseudonym_keys={pseudonym_id: suite(INTERNATIONAL).random_key()},
        active_pseudonym_id=pseudonym_id, token=token)
    _write(Path(directory) / DATA_KEYS_FILE, keyring_toml(keyring).encode("utf-8"),
           private=True)
    write_token_log_key(Path(directory), token, new_key_id("lk"))
    return keyring


def write_token_log_key(directory: Path, token: Token, label: str) -> TokenSigner:
    """Make a log key in the token and write gateway.log.key (naming it) and
    gateway.log.pub; raises ConfigurationError when the token cannot make it."""
    token.create_log_key(label)
    signer = TokenSigner.load(token, label)
    write_log_key_files(directory, signer)
    return signer


def write_log_key_files(directory: Path, signer: Signer, *, development: bool = False
                        ) -> None:
    """Write gateway.log.key (the key, or the name of a token key) and gateway.log.pub."""
    kid = signer.public.key_id
    where = (f"in PKCS#11 token {signer.token.settings.token!r}"
             if isinstance(signer, TokenSigner) else f"({signer.algorithm})")
    comments = ((DEV_WARNING,) if development else ()) + (
        f"credgate log key of the gateway {where}", f"key id {kid}")
    text = (token_reference_text(signer, comments=comments) if isinstance(signer, TokenSigner)
            else signer_file_text(signer, comments=comments))
    _write(directory / LOG_KEY_FILE, text.encode("utf-8"), private=True)
    _write(directory / LOG_PUBLIC_FILE, verifier_file_text(signer.public, comments=(
        f"credgate {signer.algorithm} public key of the gateway, for log checkpoints",
        f"key id {kid}")).encode("ascii"), private=False)


def write_box_pair(keys_dir: Path, party: str) -> None:
    """Make an X25519 key pair for a party: ``parties/<id>.box.key`` (0600), kept by the
    party, and ``parties/<id>.box.pub``, whose presence in the gateway's keys folder
    registers it (the party's answers are then sealed to it)."""
    if not _PARTY_ID.fullmatch(party):
        raise ConfigurationError("not a usable party id")
    key = generate_box_key()
    folder = Path(keys_dir) / "parties"
    _write(folder / f"{party}.box.key",
           f"# X25519 private key of party {party}: opens its sealed answers\n{key.text()}\n"
           .encode("ascii"), private=True)
    _write(folder / f"{party}.box.pub",
           f"# X25519 public key of party {party}\n{key.public.text()}\n".encode("ascii"),
           private=False)
