"""The keyring: master keys, blind-index keys and pseudonym keys, each set with an active id.

Master keys wrap the per-value data keys of field envelope encryption; blind-index keys
key the HMAC that replaces the ID number for lookups; pseudonym keys are reserved for
per-audience pseudonyms. Each set keeps old keys next to the active one, so values
written under an old key still open while they are re-encrypted (rotation).

The keyring is read from ``<keys dir>/data-keys.toml``; its format is documented in
the header comment that ``generate_keyring_toml`` writes (see ``_FORMAT_COMMENT``).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.crypto import _primitives as p
from gateway.crypto.suites import INTERNATIONAL, SUITES, Suite, suite
from gateway.crypto.token import DEFAULT_PIN_ENV, Token, TokenKey, TokenSettings
from gateway.errors import ConfigurationError
from gateway.strict_toml import Table, decode

DATA_KEYS_FILE = "data-keys.toml"
FORMAT_VERSION = 1
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# TOML section -> prefix of the key ids that generate_keyring() makes
_SECTIONS = {"master": "mk", "blind_index": "bi", "pseudonym": "ps"}

_DEVELOPMENT_BANNER = """\
# ############################################################################
# DEVELOPMENT ONLY - NEVER USE THESE KEYS IN PRODUCTION.
# They are published with the source code; anyone can decrypt data written
# under them. Generate production keys on the production machine instead.
# ############################################################################
"""

_FORMAT_COMMENT = """\
# credgate data keys (data-keys.toml). Keep this file secret (mode 0600): whoever
# reads it can decrypt every stored value and link every blind index.
#
# Format (TOML):
#   version = 1
#   [master]                 key-encryption keys (field envelope encryption)
#   active = "<key id>"      wraps the data key of every new value
#   [master.keys]            every key that may still unwrap stored values
#   "<key id>" = "<base64>"  base64 (RFC 4648) of the random key: 32 bytes (AES-256),
#                            16 bytes for a gm key (SM4)
#   [master.suites]          optional: "<key id>" = "gm" for keys of the gm suite
#                            (SM4-GCM, HMAC-SM3); a key not listed is "international"
#                            (AES-256-GCM, HMAC-SHA256)
#   [blind_index]            HMAC keys (32 bytes) for the ID-number blind index (same layout)
#   [pseudonym]              HMAC keys (32 bytes) for audience pseudonyms (same layout)
#
# The suite of the active master key is the suite new values are sealed under; the
# gateway refuses to start unless the active keys of all three sets are of the suite
# its configuration names.
#
# Key ids: 1-64 characters from A-Z a-z 0-9 . _ - (first a letter or digit). They are
# written into every ciphertext and blind index: never reuse an id for another key.
# Rotation: add a key under .keys, point `active` at it, keep the old keys until every
# value is re-encrypted (`credgate keys reencrypt`) and every blind index
# recomputed; then remove them. Never put the same key material in two sections.
"""


#: A key's material: its bytes (a file key) or a reference to a key in a PKCS#11 token.
KeyMaterial = bytes | TokenKey
#: A token key's value in data-keys.toml: the key lives in the [pkcs11] token, labelled
#: with its key id.
TOKEN_KEY_VALUE = "pkcs11"


def _frozen(keys: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(keys))


@dataclass(frozen=True, kw_only=True, eq=False)
class Keyring:
    """The data keys of one gateway; its repr shows key ids, never key bytes."""

    master_keys: Mapping[str, KeyMaterial] = field(repr=False)
    active_master_id: str
    index_keys: Mapping[str, KeyMaterial] = field(repr=False)
    active_index_id: str
    pseudonym_keys: Mapping[str, bytes] = field(repr=False)
    active_pseudonym_id: str
    #: The suite of each key (key id -> suite name); a key not named is "international".
    master_suites: Mapping[str, str] = field(default_factory=dict)
    index_suites: Mapping[str, str] = field(default_factory=dict)
    pseudonym_suites: Mapping[str, str] = field(default_factory=dict)
    #: The PKCS#11 token that holds the keys given as TokenKey (None: file keys only).
    token: Token | None = field(default=None, repr=False)
    # AEAD objects for the master keys, built once (a query opens ~20 fields).
    _master_ciphers: Mapping[str, p.AeadLike] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sets = (
            ("master", self.master_keys, self.active_master_id, self.master_suites),
            ("blind_index", self.index_keys, self.active_index_id, self.index_suites),
            ("pseudonym", self.pseudonym_keys, self.active_pseudonym_id,
             self.pseudonym_suites),
        )
        seen: set[bytes] = set()
        for section, keys, active, suites in sets:
            if not keys:
                raise ConfigurationError(f"[{section}] has no keys")
            if set(suites) - set(keys):
                raise ConfigurationError(f"[{section}.suites] names a key that is not there")
            for key_id, key in keys.items():
                if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                    raise ConfigurationError(f"[{section}] has an invalid key id")
                if isinstance(key, TokenKey):
                    # Tokens offer the international suite only (see crypto/token.py).
                    if section == "pseudonym" or suites.get(key_id, INTERNATIONAL) != \
                            INTERNATIONAL:
                        raise ConfigurationError(
                            f"[{section}] key {key_id!r} cannot live in a PKCS#11 token")
                    continue
                # A master key's size is its suite's; HMAC keys are 32 bytes in both.
                size = (suite(suites.get(key_id, INTERNATIONAL)).key_size
                        if section == "master" else p.KEY_SIZE)
                if not isinstance(key, bytes) or len(key) != size:
                    raise ConfigurationError(
                        f"[{section}] key {key_id!r} must be exactly {size} bytes"
                    )
                if key in seen:
                    raise ConfigurationError(
                        f"[{section}] key {key_id!r} reuses key material from another key"
                    )
                seen.add(key)
            if active not in keys:
                raise ConfigurationError(f"[{section}] active key id is not among its keys")
        object.__setattr__(self, "master_keys", _frozen(self.master_keys))
        object.__setattr__(self, "index_keys", _frozen(self.index_keys))
        object.__setattr__(self, "pseudonym_keys", _frozen(self.pseudonym_keys))
        for name, keys, suites in (("master_suites", self.master_keys, self.master_suites),
                                   ("index_suites", self.index_keys, self.index_suites),
                                   ("pseudonym_suites", self.pseudonym_keys,
                                    self.pseudonym_suites)):
            full = {key_id: suites.get(key_id, INTERNATIONAL) for key_id in keys}
            object.__setattr__(self, name, MappingProxyType(full))
        ciphers = {key_id: key.aead() if isinstance(key, TokenKey)
                   else SUITES[self.master_suites[key_id]].aead(key)
                   for key_id, key in self.master_keys.items()}
        object.__setattr__(self, "_master_ciphers", MappingProxyType(ciphers))

    def __repr__(self) -> str:
        return (
            f"Keyring(master={sorted(self.master_keys)}, active_master_id="
            f"{self.active_master_id!r}, index={sorted(self.index_keys)}, active_index_id="
            f"{self.active_index_id!r}, pseudonym={sorted(self.pseudonym_keys)}, "
            f"active_pseudonym_id={self.active_pseudonym_id!r}, suite={self.suite.name!r})"
        )

    @property
    def suite(self) -> Suite:
        """The suite new values are sealed and indexed under (the active master key's)."""
        return SUITES[self.master_suites[self.active_master_id]]

    def _master_cipher(self, key_id: str) -> p.AeadLike | None:
        """The cached AEAD object of a master key, or None if the id is unknown."""
        return self._master_ciphers.get(key_id)

    def active_suites(self) -> set[str]:
        """The suites of the three active keys (one element in a consistent keyring)."""
        return {self.master_suites[self.active_master_id],
                self.index_suites[self.active_index_id],
                self.pseudonym_suites[self.active_pseudonym_id]}

    def with_suite(self, suite_name: str) -> Keyring:
        """A keyring with a fresh active key of a suite in every set; old keys stay."""
        chosen = suite(suite_name)
        pseudonym_id = new_key_id(_SECTIONS["pseudonym"])
        moved = self.with_new_master(new_key_id(_SECTIONS["master"]), suite_name=chosen.name)
        moved = moved.with_new_index_key(new_key_id(_SECTIONS["blind_index"]),
                                         suite_name=chosen.name)
        return moved._replace(
            pseudonym_keys={**self.pseudonym_keys, pseudonym_id: p.random_key()},
            active_pseudonym_id=pseudonym_id,
            pseudonym_suites={**self.pseudonym_suites, pseudonym_id: chosen.name})

    def adopt(self, new: Keyring) -> None:
        """Take a newer keyring's keys in place (online rotation); raises ConfigurationError
        unless it keeps every key of this one, so nothing stored stops opening.

        Every part the recipes read is replaced key maps first, active ids last: a call
        running meanwhile that reads a new active id finds its key already there.
        """
        for mine, theirs, section in ((self.master_keys, new.master_keys, "master"),
                                      (self.index_keys, new.index_keys, "blind_index"),
                                      (self.pseudonym_keys, new.pseudonym_keys, "pseudonym")):
            if not set(mine) <= set(theirs):
                raise ConfigurationError(f"the new keys drop [{section}] keys still in use; "
                                         "remove a key only after `credgate keys reencrypt`")
        for name in ("_master_ciphers", "master_suites", "index_suites", "pseudonym_suites",
                     "master_keys", "index_keys", "pseudonym_keys", "token",
                     "active_master_id", "active_index_id", "active_pseudonym_id"):
            object.__setattr__(self, name, getattr(new, name))

    def master_suite(self, key_id: str) -> Suite | None:
        """The suite of a master key, or None if the id is unknown."""
        name = self.master_suites.get(key_id)
        return None if name is None else SUITES[name]

    def with_new_master(self, key_id: str, *, suite_name: str | None = None) -> Keyring:
        """A keyring with a fresh random master key made active; old keys stay for unwrapping.

        ``suite_name`` moves new values to another suite (the active blind-index and
        pseudonym keys must then move too: ``with_new_index_key``); raises
        ConfigurationError for a used key id.
        """
        if key_id in self.master_keys:
            raise ConfigurationError(f"master key id {key_id!r} already exists")
        chosen = suite(suite_name or self.suite.name)
        keys = {**self.master_keys, key_id: chosen.random_key()}
        suites = {**self.master_suites, key_id: chosen.name}
        return self._replace(master_keys=keys, active_master_id=key_id, master_suites=suites)

    def with_new_index_key(self, key_id: str, *, suite_name: str | None = None) -> Keyring:
        """A keyring with a fresh random blind-index key made active; old keys stay for lookups."""
        if key_id in self.index_keys:
            raise ConfigurationError(f"blind-index key id {key_id!r} already exists")
        keys = {**self.index_keys, key_id: p.random_key()}
        suites = {**self.index_suites, key_id: suite_name or self.suite.name}
        return self._replace(index_keys=keys, active_index_id=key_id, index_suites=suites)

    def _replace(self, **changes: Any) -> Keyring:
        settings: dict[str, Any] = {
            "master_keys": self.master_keys,
            "active_master_id": self.active_master_id,
            "index_keys": self.index_keys,
            "active_index_id": self.active_index_id,
            "pseudonym_keys": self.pseudonym_keys,
            "active_pseudonym_id": self.active_pseudonym_id,
            "master_suites": self.master_suites,
            "index_suites": self.index_suites,
            "pseudonym_suites": self.pseudonym_suites,
            "token": self.token,
        }
        settings.update(changes)
        return Keyring(**settings)


def new_key_id(prefix: str) -> str:
    """A fresh random key id such as ``mk-1f0c9a7e``."""
    return f"{prefix}-{secrets.token_hex(4)}"


def generate_keyring(suite_name: str = INTERNATIONAL) -> Keyring:
    """A keyring of fresh random keys of one suite, one per set."""
    chosen = suite(suite_name)
    ids = {section: new_key_id(prefix) for section, prefix in _SECTIONS.items()}
    return Keyring(
        master_keys={ids["master"]: chosen.random_key()},
        active_master_id=ids["master"],
        index_keys={ids["blind_index"]: p.random_key()},
        active_index_id=ids["blind_index"],
        pseudonym_keys={ids["pseudonym"]: p.random_key()},
        active_pseudonym_id=ids["pseudonym"],
        master_suites={ids["master"]: chosen.name},
        index_suites={ids["blind_index"]: chosen.name},
        pseudonym_suites={ids["pseudonym"]: chosen.name},
    )


def keyring_toml(keyring: Keyring, *, development: bool = False) -> str:
    """The data-keys.toml text for a keyring (it contains the secret keys)."""
    header = (_DEVELOPMENT_BANNER + "\n" if development else "") + _FORMAT_COMMENT
    lines = [header, f"version = {FORMAT_VERSION}"]
    if keyring.token is not None:
        token = keyring.token.settings
        lines += ["", "[pkcs11]", f"module = {_toml_string(token.module)}",
                  f"token = {_toml_string(token.token)}", f'pin_env = "{token.pin_env}"']
    sets = (
        ("master", keyring.master_keys, keyring.active_master_id, keyring.master_suites),
        ("blind_index", keyring.index_keys, keyring.active_index_id, keyring.index_suites),
        ("pseudonym", keyring.pseudonym_keys, keyring.active_pseudonym_id,
         keyring.pseudonym_suites),
    )
    for section, keys, active, suites in sets:
        lines += ["", f"[{section}]", f'active = "{active}"', "", f"[{section}.keys]"]
        lines += [f'"{kid}" = "{_key_text(key)}"' for kid, key in keys.items()]
        # Only keys of another suite than international are listed (older files stay valid).
        named = {kid: name for kid, name in suites.items() if name != INTERNATIONAL}
        if named:
            lines += ["", f"[{section}.suites]"]
            lines += [f'"{kid}" = "{name}"' for kid, name in named.items()]
    return "\n".join(lines) + "\n"


def _key_text(key: KeyMaterial) -> str:
    return TOKEN_KEY_VALUE if isinstance(key, TokenKey) else base64.b64encode(key).decode()


def _toml_string(text: str) -> str:
    # A basic TOML string: backslashes and quotes escaped (module paths are plain text).
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate_keyring_toml(*, development: bool = False,
                          suite_name: str = INTERNATIONAL) -> str:
    """A fresh data-keys.toml text; ``development`` adds a loud DEVELOPMENT ONLY header."""
    return keyring_toml(generate_keyring(suite_name), development=development)


class KeySetTable(Table):
    """One key set of data-keys.toml ([master], [blind_index], [pseudonym])."""

    active: str
    keys: Annotated[dict[str, str], Meta(min_length=1, description='a table of at least one '
                                                                   '"<key id>" = "<base64>"')]
    suites: dict[str, str] = msgspec.field(default_factory=dict)


class Pkcs11Table(Table):
    """[pkcs11]: the token holding keys whose value is "pkcs11"."""

    module: Annotated[str, Meta(min_length=1, description="a path (non-empty string)")]
    token: Annotated[str, Meta(min_length=1, description="a token label (non-empty string)")]
    pin_env: str = DEFAULT_PIN_ENV


class KeyFile(Table):
    """data-keys.toml (its format is the comment generate_keyring_toml writes)."""

    version: Annotated[Literal[1], Meta(description=f"{FORMAT_VERSION} (this format)")]
    master: KeySetTable
    blind_index: KeySetTable
    pseudonym: KeySetTable
    pkcs11: Pkcs11Table | None = None


def _key_set(table: KeySetTable, section: str, token: Token | None = None
             ) -> tuple[dict[str, KeyMaterial], str, dict[str, str]]:
    decoded: dict[str, KeyMaterial] = {}
    for key_id, text in table.keys.items():
        if text == TOKEN_KEY_VALUE:
            if token is None:
                raise ConfigurationError(
                    f"data keys: [{section}.keys] {key_id!r} is in a PKCS#11 token but the "
                    "file has no [pkcs11] table")
            decoded[key_id] = TokenKey(token, key_id, "aes" if section == "master" else "hmac")
            continue
        try:
            decoded[key_id] = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            # The message names the key id only: never echo key material.
            raise ConfigurationError(
                f"data keys: [{section}.keys] {key_id!r} is not valid base64"
            ) from None
    if not all(name in SUITES for name in table.suites.values()):
        raise ConfigurationError(
            f"data keys: [{section}.suites] values must be one of {', '.join(SUITES)}")
    return decoded, table.active, dict(table.suites)


def _open_token(table: Pkcs11Table | None) -> Token | None:
    """The token a [pkcs11] table names, opened and logged in (None without the table)."""
    if table is None:
        return None
    return Token(TokenSettings(table.module, table.token, table.pin_env or DEFAULT_PIN_ENV))


def parse_keyring_toml(text: str) -> Keyring:
    """Build a keyring from data-keys.toml text; raises ConfigurationError when invalid
    (an unknown, missing or mistyped key with its line; never a key's material)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"data keys: not valid TOML ({exc})") from None
    keys = decode(doc, KeyFile, file=DATA_KEYS_FILE, text=text)
    token = _open_token(keys.pkcs11)
    master, master_id, master_suites = _key_set(keys.master, "master", token)
    index, index_id, index_suites = _key_set(keys.blind_index, "blind_index", token)
    pseudonym, pseudonym_id, pseudonym_suites = _key_set(keys.pseudonym, "pseudonym")
    try:
        return Keyring(
            master_keys=master,
            active_master_id=master_id,
            index_keys=index,
            active_index_id=index_id,
            # No token was given to _key_set for this set, so every key is bytes.
            pseudonym_keys={k: v for k, v in pseudonym.items() if isinstance(v, bytes)},
            active_pseudonym_id=pseudonym_id,
            master_suites=master_suites,
            index_suites=index_suites,
            pseudonym_suites=pseudonym_suites,
            token=token,
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"data keys: {exc.message}") from None


def load_keyring(keys_dir: Path) -> Keyring:
    """Read ``keys_dir/data-keys.toml``; raises ConfigurationError when missing or invalid."""
    path = Path(keys_dir) / DATA_KEYS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"data keys file not found: {path} (create one with `credgate keys init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"data keys file cannot be read: {path} ({type(exc).__name__})"
        ) from None
    try:
        return parse_keyring_toml(text)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc.message} in {path}") from None
