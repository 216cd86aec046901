"""The credit agency blacklist (违规经营黑名单): a listed agency is refused on every call.

The listings live in the record store, so they survive restarts and every gateway
instance sharing a PostgreSQL store enforces them. Each instance keeps the set of listed
parties for at most `ttl` seconds (a dictionary look-up per call instead of a database
round trip); a listing made on this instance takes effect here at once, on other
instances within `ttl`. A store that cannot be read refuses the call (fail closed).
The officers' reasons are free text that may name people: they are stored sealed
(bound to the listing and the field) and opened only to be shown to officers.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import Callable

from gateway.catalogue.registry import Catalogue, Party
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.errors import FailedPrecondition, NotFound, PermissionDenied
from gateway.records.changes import BLACKLIST, Change, blacklist, lift_blacklist, party_of
from gateway.records.lifecycle_rows import BlacklistRow
from gateway.records.store import RecordStore

#: Who may be blacklisted: licensed credit agencies (never a department or an officer,
#: so no listing can lock the officers who lift listings out).
LISTABLE_KIND = "credit_agency"
REFUSED_REASON = "party_blacklisted"
_SEAL_CATEGORY = "blacklist"


def listing_field(party_id: str, listed_at: str, field: str) -> FieldContext:
    """What a listing's reasons are sealed to: the party and the listing time, and the field."""
    return FieldContext(f"{party_id}@{listed_at}", _SEAL_CATEGORY, field)


def listable(party: Party) -> bool:
    """Whether a party may be put on the blacklist."""
    return party.kind == LISTABLE_KIND or LISTABLE_KIND in party.roles


class Blacklist:
    """Enforces and edits the blacklist kept in the store."""

    def __init__(self, store: RecordStore, *, cipher: FieldCipher, ttl: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cipher = cipher
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._listed: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._generation = 0

    def listed(self) -> frozenset[str]:
        """The parties listed now (at most `ttl` seconds old), and those whose listing
        awaits its allow entry (refused at once: gateway.records.changes); raises
        StoreUnavailable."""
        now = self._monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._listed
            generation = self._generation
        listed = frozenset(row.party for row in self._store.list_blacklist()) | frozenset(
            party_of(t) for t in self._store.awaiting_targets(BLACKLIST))
        with self._lock:
            if generation == self._generation:  # no local change raced the read
                self._listed, self._read_at = listed, now
        return listed

    def check(self, party: Party) -> None:
        """Refuse a listed party: raises PermissionDenied (reason party_blacklisted)."""
        if party.id in self.listed():
            raise PermissionDenied(
                "this party is on the blacklist of credit agencies that broke the rules "
                "(违规经营黑名单); every call is refused until a security officer lifts it",
                reason=REFUSED_REASON)

    def changed(self) -> None:
        """A listing or lift was staged or made here: read the store again at once."""
        with self._lock:
            self._generation += 1
            self._read_at = None

    def listing(self, catalogue: Catalogue, party_id: str, *, by: str, reason: str,
                at: str) -> Change[BlacklistRow]:
        """The change that lists a credit agency (a call stages it for its allow entry);
        raises NotFound, FailedPrecondition."""
        party = catalogue.parties.get(party_id)
        if party is None:
            raise NotFound("no registered party with this id", reason="party_unknown")
        if not listable(party):
            raise FailedPrecondition("only credit agencies can be blacklisted",
                                     reason="not_listable")
        sealed = self._seal(party_id, at, "reason", reason)
        return blacklist(BlacklistRow(party=party_id, listed_at=at, listed_by=by,
                                      reason=sealed))

    def lifting(self, party_id: str, *, by: str, reason: str, at: str
                ) -> Change[BlacklistRow]:
        """The change that lifts a listing; raises FailedPrecondition when the party is
        not listed."""
        listing = next((r for r in self._store.list_blacklist() if r.party == party_id), None)
        if listing is None:
            raise FailedPrecondition("the party is not blacklisted",
                                     reason="not_blacklisted")
        sealed = self._seal(party_id, listing.listed_at, "lift_reason", reason)
        return lift_blacklist(party_id, at=at, by=by, reason=sealed)

    def entries(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and lifted ones on request), reasons opened for officers."""
        return [self.opened(r) for r in self._store.list_blacklist(
            include_lifted=include_lifted)]

    def _seal(self, party_id: str, listed_at: str, field: str, text: str) -> str:
        blob = self._cipher.seal(listing_field(party_id, listed_at, field), text)
        return base64.b64encode(blob).decode("ascii")

    def _open(self, row: BlacklistRow, field: str, text: str) -> str:
        if not text:
            return ""
        return self._cipher.open(listing_field(row.party, row.listed_at, field),
                                 base64.b64decode(text))

    def opened(self, row: BlacklistRow) -> BlacklistRow:
        """The row with its reasons in clear (raises DecryptionError on a tampered one)."""
        return dataclasses.replace(row, reason=self._open(row, "reason", row.reason),
                                   lift_reason=self._open(row, "lift_reason",
                                                          row.lift_reason))
