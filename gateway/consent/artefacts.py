"""Consent artefacts (授权书): issue, verify, revoke, count uses.

A consent artefact is its terms in RFC 8785 canonical JSON (JCS, through the ``rfc8785``
package: the citizen portal, another system, signs these bytes), signed by a
registered issuer (the citizen portal, on the person's behalf). The gateway keeps the
signed bytes encrypted (they name the subject) and verifies the signature again on
every use, so a row altered in the database stops working instead of widening access.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import rfc8785

from gateway.catalogue.registry import Catalogue, Party
from gateway.clock import Clock, city_today, parse_rfc3339, rfc3339
from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.keyring import Keyring
from gateway.crypto.signatures import PartySigningKey as SigningKey
from gateway.crypto.signatures import PartyVerifyKey as VerifyKey
from gateway.crypto.signatures import sign, verify
from gateway.errors import (
    BadSignature,
    ConsentRefused,
    DecryptionError,
    InvalidArgument,
    PermissionDenied,
)
from gateway.pii.identifiers import check_identifier, is_identifier, new_identifier
from gateway.pii.idnumber import IdNumber, parse_id_number
from gateway.records.changes import Change, issue_consent, revoke_consent
from gateway.records.store import ConsentRow, RecordStore

ARTEFACT_VERSION = 1
MAX_ARTEFACT_BYTES = 8192
MAX_USES_LIMIT = 10_000
CONSENT_ID_MIN_CHARS = 8
_FIELDS = frozenset(
    {"v", "consent_id", "subject_id", "grantee", "purpose", "categories", "not_before",
     "not_after", "max_uses", "issuer", "issued_at"}
)


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """What the person agreed to: who may see which categories, why, and until when."""

    consent_id: str
    subject_id: str
    grantee: str
    purpose: str
    categories: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    max_uses: int
    issuer: str
    issued_at: datetime

    def __repr__(self) -> str:
        return (f"ConsentTerms(consent_id={self.consent_id!r}, grantee={self.grantee!r}, "
                f"purpose={self.purpose!r}, subject=<redacted>)")

    def canonical_bytes(self) -> bytes:
        """The signed form: the terms in RFC 8785 canonical JSON (docs/request-signing.md §6)."""
        doc: dict[str, str | int | list[str]] = {
            "v": ARTEFACT_VERSION,
            "consent_id": self.consent_id,
            "subject_id": self.subject_id,
            "grantee": self.grantee,
            "purpose": self.purpose,
            "categories": sorted(self.categories),
            "not_before": rfc3339(self.not_before),
            "not_after": rfc3339(self.not_after),
            "max_uses": self.max_uses,
            "issuer": self.issuer,
            "issued_at": rfc3339(self.issued_at),
        }
        return rfc8785.dumps(doc)


def is_consent_id(text: object) -> bool:
    """Whether a text is a consent id: a caller identifier (identifiers.py) of 8-128 chars."""
    return is_identifier(text, min_chars=CONSENT_ID_MIN_CHARS, logged=True)


def check_consent_id(text: object) -> str:
    """The consent id if well formed; raises MalformedIdentifier (value never echoed).

    A consent id goes as written into every audit entry of its uses: it may hold no
    personal number at all, a mobile number neither (``logged``)."""
    return check_identifier(text, what="consent_id", min_chars=CONSENT_ID_MIN_CHARS,
                            logged=True)


def new_terms(
    *,
    subject_id: str,
    grantee: str,
    purpose: str,
    categories: Sequence[str],
    not_before: datetime,
    not_after: datetime,
    max_uses: int,
    issuer: str,
    issued_at: datetime,
    consent_id: str | None = None,
) -> ConsentTerms:
    """Terms for a new artefact with a fresh random id."""
    return ConsentTerms(
        consent_id=consent_id or new_identifier("consent"),
        subject_id=subject_id.strip().upper(),
        grantee=grantee,
        purpose=purpose,
        categories=tuple(sorted(set(categories))),
        not_before=not_before,
        not_after=not_after,
        max_uses=max_uses,
        issuer=issuer,
        issued_at=issued_at,
    )


def sign_terms(terms: ConsentTerms, key: SigningKey) -> tuple[bytes, bytes]:
    """The artefact bytes and the issuer's Ed25519 signature over them."""
    artefact = terms.canonical_bytes()
    return artefact, sign(key, artefact)


def parse_artefact(artefact: bytes) -> ConsentTerms:
    """Parse artefact bytes; raises InvalidArgument when they are not canonical terms."""
    if len(artefact) > MAX_ARTEFACT_BYTES:
        raise InvalidArgument("consent artefact is too large")
    try:
        doc = json.loads(artefact.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: also a number too long to convert; RecursionError: deep nesting.
        raise InvalidArgument("consent artefact is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != _FIELDS or doc.get("v") != ARTEFACT_VERSION:
        raise InvalidArgument("consent artefact has the wrong set of fields or version")
    try:
        terms = ConsentTerms(
            consent_id=str(doc["consent_id"]),
            subject_id=str(doc["subject_id"]),
            grantee=str(doc["grantee"]),
            purpose=str(doc["purpose"]),
            categories=tuple(str(c) for c in doc["categories"]),
            not_before=parse_rfc3339(doc["not_before"]),
            not_after=parse_rfc3339(doc["not_after"]),
            max_uses=int(doc["max_uses"]),
            issuer=str(doc["issuer"]),
            issued_at=parse_rfc3339(doc["issued_at"]),
        )
    except (TypeError, ValueError, AttributeError, OverflowError, RecursionError):
        raise InvalidArgument("consent artefact has a malformed value") from None
    if terms.canonical_bytes() != artefact:
        # Only the canonical form may be signed, so two byte strings never mean the same.
        raise InvalidArgument("consent artefact is not in canonical form")
    return terms


@dataclass(frozen=True, slots=True)
class VerifiedConsent:
    """A consent that passed every check for one request."""

    consent_id: str
    categories: frozenset[str]
    uses: int


@dataclass(frozen=True, slots=True)
class PreparedConsent:
    """A verified artefact and the row that will store it."""

    terms: ConsentTerms
    row: ConsentRow


#: Settled consent uses written together (ConsentRegistry.settle).
SETTLE_BATCH = 32
_SEAL_CATEGORY = "consent"


def consent_field(consent_id: str, field: str) -> FieldContext:
    """What a consent's sealed parts (its artefact, the revocation reason) are bound to."""
    return FieldContext(consent_id, _SEAL_CATEGORY, field)


class ConsentRegistry:
    """Registers, revokes and checks consent artefacts for the gateway."""

    def __init__(
        self,
        *,
        store: RecordStore,
        keyring: Keyring,
        cipher: FieldCipher,
        catalogue: Catalogue,
        issuer_keys: Mapping[str, VerifyKey],
        clock: Clock,
        instance: str = "",
    ) -> None:
        self._store = store
        self._keyring = keyring  # the blind index of the consent's subject
        self._cipher = cipher
        self._catalogue = catalogue
        self._issuer_keys = dict(issuer_keys)
        self._clock = clock
        #: This gateway's name in the shared store (gateway.consent.uses.instance_id).
        self._instance = instance
        self._to_settle: list[str] = []
        self._settle_lock = threading.Lock()

    def use_catalogue(self, catalogue: Catalogue) -> None:
        """Check against a new catalogue from now on (after a policy rollout)."""
        self._catalogue = catalogue

    def _issuer_key(self, issuer: str) -> VerifyKey:
        party = self._catalogue.parties.get(issuer)
        key = self._issuer_keys.get(issuer)
        if party is None or not party.consent_issuer or key is None:
            raise ConsentRefused("consent issuer is not registered", reason="unknown_issuer")
        return key

    def prepare(self, caller: Party, artefact: bytes, signature: bytes) -> PreparedConsent:
        """Verify a signed artefact issued by the caller; raises on any defect."""
        if not caller.consent_issuer:
            raise PermissionDenied("only a registered consent issuer may issue consent",
                                   reason="not_consent_issuer")
        terms = parse_artefact(artefact)
        if terms.issuer != caller.id:
            raise PermissionDenied("the artefact names another issuer", reason="issuer_mismatch")
        try:
            verify(self._issuer_key(caller.id), artefact, signature)
        except BadSignature:
            raise ConsentRefused("consent signature does not verify",
                                 reason="bad_signature") from None
        subject = self._check_terms(terms)
        row = ConsentRow(
            consent_id=terms.consent_id,
            issuer=terms.issuer,
            grantee=terms.grantee,
            purpose=terms.purpose,
            subject_index=blind_indexes(self._keyring, subject.value)[0],
            not_before=rfc3339(terms.not_before),
            not_after=rfc3339(terms.not_after),
            max_uses=terms.max_uses,
            artefact_ciphertext=self._cipher.seal_bytes(
                consent_field(terms.consent_id, "artefact"), artefact),
            signature=signature,
            issued_at=rfc3339(self._clock.now()),
        )
        return PreparedConsent(terms=terms, row=row)

    def registration(self, prepared: PreparedConsent) -> Change[bool]:
        """The change that stores a prepared consent (a call stages it for its allow
        entry); it gives False when the same artefact was stored before."""
        return issue_consent(prepared.row)

    def _check_terms(self, terms: ConsentTerms) -> IdNumber:
        check_consent_id(terms.consent_id)
        if terms.grantee not in self._catalogue.parties:
            raise InvalidArgument("consent names an unknown grantee")
        purpose = self._catalogue.purposes.get(terms.purpose)
        if purpose is None or not purpose.queryable:
            raise InvalidArgument("consent names an unknown purpose")
        if not terms.categories:
            raise InvalidArgument("consent names no category")
        for code in terms.categories:
            if code not in self._catalogue.categories:
                raise InvalidArgument("consent names an unknown category")
        if terms.not_after <= terms.not_before:
            raise InvalidArgument("consent validity window is empty")
        if not 1 <= terms.max_uses <= MAX_USES_LIMIT:
            raise InvalidArgument(f"max_uses must be between 1 and {MAX_USES_LIMIT}")
        return parse_id_number(terms.subject_id, today=city_today(self._clock),
                               field="consent subject_id")

    def revocation(self, caller: Party, consent_id: str, reason: str) -> Change[ConsentRow]:
        """The change that revokes a consent (a call stages it for its allow entry; uses
        are refused from then on); only its issuer may. Raises PermissionDenied."""
        row = self._store.get_consent(check_consent_id(consent_id))
        if row is None or row.issuer != caller.id:
            # Same answer for "absent" and "not yours": ids do not leak across parties.
            raise PermissionDenied("no consent with this id was issued by the caller",
                                   reason="not_issuer")
        # The reason is the person's free text: it may name people, so it is stored sealed.
        sealed = self._cipher.seal_bytes(consent_field(consent_id, "revoke_reason"),
                                         reason[:500].encode("utf-8"))
        return revoke_consent(consent_id, at=rfc3339(self._clock.now()),
                              reason=base64.b64encode(sealed).decode("ascii"))

    def check(
        self,
        consent_id: str,
        *,
        subject: IdNumber,
        grantee: str,
        purpose: str,
        requested: Collection[str],
        explicit: bool,
        request_id: str = "",
    ) -> VerifiedConsent:
        """Verify a consent covers this request and count one use; raises ConsentRefused.

        `requested` are the categories the query asks for; when `explicit`, each must be
        covered, otherwise the release is narrowed to the consented categories. The use
        is recorded against `request_id`: it stays spent only once the call's allow
        entry commits (`settle`), and is given back otherwise (`give_back`).
        """
        if not consent_id:
            raise ConsentRefused("this purpose requires the person's consent",
                                 reason="consent_missing")
        row = self._store.get_consent(check_consent_id(consent_id))
        if row is None:
            raise ConsentRefused("consent is not registered", reason="consent_unknown")
        try:
            artefact = self._cipher.open_bytes(consent_field(row.consent_id, "artefact"),
                                               row.artefact_ciphertext)
            verify(self._issuer_key(row.issuer), artefact, row.signature)
            terms = parse_artefact(artefact)
        except (DecryptionError, BadSignature, InvalidArgument):
            raise ConsentRefused("consent signature does not verify",
                                 reason="bad_signature") from None
        if (terms.consent_id != row.consent_id or terms.issuer != row.issuer
                or terms.max_uses != row.max_uses):
            # The store counts uses against the row's max_uses: a row edited to allow
            # more uses than the person signed for stops working instead.
            raise ConsentRefused("consent signature does not verify", reason="bad_signature")
        if terms.subject_id != subject.value:
            raise ConsentRefused("consent was given by another person",
                                 reason="consent_subject_mismatch")
        if terms.grantee != grantee:
            raise ConsentRefused("consent names another grantee",
                                 reason="consent_grantee_mismatch")
        if terms.purpose != purpose:
            raise ConsentRefused("consent names another purpose",
                                 reason="consent_purpose_mismatch")
        covered = frozenset(terms.categories)
        if explicit and not set(requested) <= covered:
            raise ConsentRefused("consent does not cover a requested category",
                                 reason="consent_category_mismatch")
        if not covered & set(requested):
            raise ConsentRefused("consent does not cover a requested category",
                                 reason="consent_category_mismatch")
        now = self._clock.now()
        if now < terms.not_before:
            raise ConsentRefused("consent is not yet valid", reason="consent_not_yet_valid")
        if now >= terms.not_after:
            raise ConsentRefused("consent has expired", reason="consent_expired")
        if row.revoked_at is not None:
            raise ConsentRefused("consent has been revoked", reason="consent_revoked")
        # Atomic: refuses revoked or used up.
        uses = self._store.use_consent(consent_id, request_id=request_id,
                                       used_by=self._instance, at=now)
        return VerifiedConsent(consent_id=consent_id, categories=covered, uses=uses)

    def settle(self, request_id: str) -> None:
        """The call's allow entry committed: the consent use it made stays spent.

        Settled uses are written SETTLE_BATCH at a time, not one write per call (issue
        12): a use left unwritten is harmless, since the outcome sweeper settles every
        use whose allow entry it finds in the audit log. Raises StoreUnavailable when a
        batch cannot be written (its uses are left to the sweeper).
        """
        with self._settle_lock:
            self._to_settle.append(request_id)
            if len(self._to_settle) < SETTLE_BATCH:
                return
            batch, self._to_settle = self._to_settle, []
        self._store.settle_consent_uses(batch)

    def flush_settled(self) -> None:
        """Write the settled uses not written yet (at close); raises StoreUnavailable."""
        with self._settle_lock:
            batch, self._to_settle = self._to_settle, []
        self._store.settle_consent_uses(batch)

    def give_back(self, request_id: str) -> bool:
        """The call released nothing: give back the consent use it made, if any."""
        return self._store.give_back_consent_use(request_id)
