"""Keys held in a PKCS#11 token (an HSM, or SoftHSM2 for development and tests).

A token key never leaves the token: the master keys (key-encryption keys) wrap and
unwrap data keys inside it with CKM_AES_GCM, the blind-index key computes its HMAC
inside it with CKM_SHA256_HMAC, and the log key signs inside it with CKM_EDDSA (an
Ed25519 pair), its companion HMAC key keying the log's tree-state MAC. The
bytes are the same as a file key's (AES-256-GCM with the same nonce and associated
data), so a blob does not say where its master key lives, and a store may move its
keys into a token by rotation.

Only the international suite is offered in a token: SoftHSM2 and PKCS#11 v2.40 define
no SM4 or SM3 mechanism (a GM-certified module uses vendor mechanisms).

The token is opened once at start-up; a token that cannot be opened, or a key that is
missing, is a ConfigurationError and the gateway does not start. A token that fails
later (removed, session lost) raises KeyStoreUnavailable on the call that needed it,
and that call fails: there is no fallback to a file key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    TokenNotRecognised,
)
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from gateway.crypto import _primitives as p
from gateway.crypto.signers import ED25519, Signer, ed25519_verifier
from gateway.errors import BadSignature, ConfigurationError, KeyStoreUnavailable

__all__ = ["DEFAULT_PIN_ENV", "Token", "TokenAead", "TokenKey", "TokenSettings",
           "TokenSigner", "state_mac_label"]

DEFAULT_PIN_ENV = "CREDGATE_PKCS11_PIN"
#: Failures that mean the token is gone, not that the input was wrong.
_GONE = (DeviceRemoved, SessionClosed, SessionHandleInvalid, TokenNotPresent,
         TokenNotRecognised)
# Every key made here: kept in the token, never readable or exportable.
_SECRET = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
           Attribute.EXTRACTABLE: False}
#: RFC 8410 id-Ed25519, the curve of CKK_EC_EDWARDS keys (PKCS#11 v3.0 §2.3.10).
_ED25519_OID = "1.3.101.112"


@dataclass(frozen=True)
class TokenSettings:
    """Where the token is: the PKCS#11 module, the token's label, the PIN's variable."""

    module: str
    token: str
    pin_env: str = DEFAULT_PIN_ENV


@dataclass
class _Login:
    """A process's logged-in session with one token, shared by its Token objects.

    PKCS#11 keeps the login per application, not per session (v2.40 §5.6: a second
    C_Login fails with CKR_USER_ALREADY_LOGGED_IN), so one process holds one login per
    token and every Token of it shares that session and its lock.
    """

    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_LOGINS: dict[tuple[str, str], _Login] = {}
_LOGINS_LOCK = threading.Lock()


def _login(settings: TokenSettings, pin: str) -> _Login:
    digest = hashlib.sha256(pin.encode("utf-8")).digest()
    with _LOGINS_LOCK:
        login = _LOGINS.get((settings.module, settings.token))
        if login is not None:
            # Already logged in: the PIN given must still be the token's.
            if not hmac.compare_digest(login.pin_digest, digest):
                raise ConfigurationError(f"PKCS#11 token {settings.token!r}: wrong PIN")
        else:
            try:
                library = pkcs11.lib(settings.module)
                token = library.get_token(token_label=settings.token)
                session = token.open(user_pin=pin, rw=True)
            except (PKCS11Error, RuntimeError, OSError, StopIteration) as exc:
                raise ConfigurationError(
                    f"PKCS#11 token {settings.token!r} in {settings.module} cannot be opened "
                    f"({type(exc).__name__}); the gateway does not start without its keys"
                ) from None
            login = _LOGINS[(settings.module, settings.token)] = _Login(session, digest)
        login.users += 1
        return login


class Token:
    """A logged-in session with a token; operations are serialised by a lock.

    A PKCS#11 session serves one thread at a time (PKCS#11 v2.40 §5.6), so calls from
    the gateway's worker threads take turns.
    """

    def __init__(self, settings: TokenSettings, *, pin: str | None = None) -> None:
        self.settings = settings
        pin = pin if pin is not None else os.environ.get(settings.pin_env)
        if not pin:
            raise ConfigurationError(
                f"PKCS#11 token {settings.token!r}: no PIN (set {settings.pin_env})")
        self._login: _Login | None = _login(settings, pin)

    @property
    def _session(self) -> Any:
        login = self._login
        if login is None:
            raise KeyStoreUnavailable()
        return login.session

    def close(self) -> None:
        """Stop using the token; the last Token of the process logs out."""
        with _LOGINS_LOCK:
            login, self._login = self._login, None
            if login is None:
                return
            login.users -= 1
            if login.users == 0:
                del _LOGINS[(self.settings.module, self.settings.token)]
                with login.lock, contextlib.suppress(PKCS11Error):
                    login.session.close()

    def run(self, operation: Any) -> Any:
        """Run one token operation under the lock; raises KeyStoreUnavailable if gone."""
        login = self._login
        if login is None:
            raise KeyStoreUnavailable()
        with login.lock:
            try:
                return operation()
            except _GONE:
                raise KeyStoreUnavailable() from None

    def find(self, label: str, key_type: KeyType) -> Any:
        """The secret key of a label; raises ConfigurationError when it is not there."""
        try:
            return self.run(lambda: self._session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=key_type, label=label))
        except (PKCS11Error, KeyStoreUnavailable):
            raise ConfigurationError(
                f"PKCS#11 token {self.settings.token!r} has no key {label!r}") from None

    def create_aes_key(self, label: str) -> None:
        """Make an AES-256 key-encryption key in the token (never extractable)."""
        self.run(lambda: self._session.generate_key(
            KeyType.AES, 256, label=label, store=True,
            template={**_SECRET, Attribute.ENCRYPT: True, Attribute.DECRYPT: True}))

    def create_hmac_key(self, label: str) -> None:
        """Make a 256-bit HMAC key in the token (never extractable)."""
        self.run(lambda: self._session.generate_key(
            KeyType.GENERIC_SECRET, 256, label=label, store=True,
            template={**_SECRET, Attribute.SIGN: True, Attribute.VERIFY: True}))

    def create_log_key(self, label: str) -> None:
        """Make the log key in the token: an Ed25519 pair whose private half never leaves
        it, and the HMAC key of the log's tree-state MAC (``state_mac_label``)."""
        def generate() -> None:
            params = self._session.create_domain_parameters(
                KeyType.EC_EDWARDS,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                local=True)
            params.generate_keypair(
                store=True, label=label, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                public_template={Attribute.TOKEN: True, Attribute.VERIFY: True},
                private_template={**_SECRET, Attribute.SIGN: True})
        try:
            self.run(generate)
        except PKCS11Error as exc:
            raise ConfigurationError(
                f"PKCS#11 token {self.settings.token!r} cannot make an Ed25519 key "
                f"({type(exc).__name__}; the module needs CKM_EC_EDWARDS_KEY_PAIR_GEN)"
            ) from None
        self.create_hmac_key(state_mac_label(label))


class TokenAead:
    """AES-256-GCM under a token key, with AESGCM's interface (for the field recipes)."""

    def __init__(self, token: Token, key: Any) -> None:
        self._token = token
        self._key = key

    def encrypt(self, nonce: p.BytesLike, data: p.BytesLike, associated_data: p.BytesLike
                ) -> bytes:
        """AES-GCM inside the token; returns ciphertext || tag."""
        params = GCMParams(bytes(nonce), bytes(associated_data), p.TAG_SIZE * 8)
        try:
            return bytes(self._token.run(lambda: self._key.encrypt(
                bytes(data), mechanism=Mechanism.AES_GCM, mechanism_param=params)))
        except PKCS11Error:
            raise KeyStoreUnavailable() from None

    def decrypt(self, nonce: p.BytesLike, data: p.BytesLike, associated_data: p.BytesLike
                ) -> bytes:
        """AES-GCM open inside the token; a tag that does not verify is AuthenticationFailed."""
        params = GCMParams(bytes(nonce), bytes(associated_data), p.TAG_SIZE * 8)
        try:
            return bytes(self._token.run(lambda: self._key.decrypt(
                bytes(data), mechanism=Mechanism.AES_GCM, mechanism_param=params)))
        except PKCS11Error:
            # SoftHSM2 reports a bad tag as a general error: any refusal is a failed open.
            raise p.AuthenticationFailed() from None


@dataclass(frozen=True, eq=False)
class TokenKey:
    """A key in a token, named by its label (the key id); its repr shows no secret."""

    token: Token = field(repr=False)
    label: str
    kind: str  # "aes" (master key) or "hmac" (blind-index key)
    _handle: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        key_type = KeyType.AES if self.kind == "aes" else KeyType.GENERIC_SECRET
        object.__setattr__(self, "_handle", self.token.find(self.label, key_type))

    def aead(self) -> TokenAead:
        """The AEAD of a master key held in the token."""
        return TokenAead(self.token, self._handle)

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of a message inside the token; raises KeyStoreUnavailable."""
        try:
            return bytes(self.token.run(lambda: self._handle.sign(
                message, mechanism=Mechanism.SHA256_HMAC)))
        except PKCS11Error:
            raise KeyStoreUnavailable() from None


def state_mac_label(log_key_label: str) -> str:
    """The label of the HMAC key that keys a token log key's tree-state MAC."""
    return f"{log_key_label}.state-mac"


@dataclass(frozen=True, eq=False, repr=False)
class TokenSigner(Signer):
    """The log key in a token: an Ed25519 pair, signing with CKM_EDDSA inside it.

    Its signatures are plain Ed25519 (RFC 8032), verified by the public half alone. Its
    tree-state MAC key is the token HMAC key ``state_mac`` (there are no secret bytes to
    derive one from). A token that fails raises KeyStoreUnavailable: nothing is signed.
    """

    token: Token
    label: str
    state_mac: TokenKey

    def __repr__(self) -> str:
        return f"TokenSigner({self.label}, {self.public.key_id})"

    @classmethod
    def load(cls, token: Token, label: str) -> TokenSigner:
        """The log key of a label; raises ConfigurationError when a part is missing or
        the private half does not sign for the public half."""
        def halves() -> tuple[Any, Any]:
            return (self_get(ObjectClass.PRIVATE_KEY), self_get(ObjectClass.PUBLIC_KEY))

        def self_get(kind: ObjectClass) -> Any:
            return token._session.get_key(object_class=kind, key_type=KeyType.EC_EDWARDS,
                                          label=label)
        try:
            private, public = token.run(halves)
            point = bytes(token.run(lambda: public[Attribute.EC_POINT]))
        except (PKCS11Error, KeyStoreUnavailable):
            raise ConfigurationError(
                f"PKCS#11 token {token.settings.token!r} has no log key {label!r}") from None
        # CKA_EC_POINT of an Edwards key is the DER OCTET STRING of the 32-byte key.
        raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
        signer = cls(ED25519, private, ed25519_verifier(raw), token, label,
                     TokenKey(token, state_mac_label(label), "hmac"))
        probe = b"credgate/log-key-probe"
        try:
            signer.public.verify(probe, signer.sign(probe))
        except BadSignature:
            raise ConfigurationError(
                f"PKCS#11 log key {label!r}: the private key does not match the public key"
            ) from None
        return signer

    def sign(self, message: bytes) -> bytes:
        """Ed25519 inside the token (CKM_EDDSA); raises KeyStoreUnavailable."""
        try:
            return bytes(self.token.run(lambda: self._key.sign(
                bytes(message), mechanism=Mechanism.EDDSA)))
        except PKCS11Error:
            raise KeyStoreUnavailable() from None

    def secret_bytes(self) -> bytes:
        """Never: a token key has no bytes outside the token."""
        raise ConfigurationError("a key in a PKCS#11 token never leaves it")
