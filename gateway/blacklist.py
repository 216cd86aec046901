"""The credit agency blacklist (违规经营黑名单): a listed agency is refused on every call.

The listings live in the record store, so they survive restarts and every gateway
instance sharing a PostgreSQL store enforces them. Each instance keeps the set of listed
parties for at most `ttl` seconds (a dictionary look-up per call instead of a database
round trip); a listing made on this instance takes effect here at once, on other
instances within `ttl`. A store that cannot be read refuses the call (fail closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.errors import FailedPrecondition, NotFound, PermissionDenied
from gateway.records.catalogue import Catalogue, Party
from gateway.records.lifecycle_rows import BlacklistRow
from gateway.records.store import RecordStore

#: Who may be blacklisted: licensed credit agencies (never a department or an officer,
#: so no listing can lock the officers who lift listings out).
LISTABLE_KIND = "credit_agency"
REFUSED_REASON = "party_blacklisted"


def listable(party: Party) -> bool:
    """Whether a party may be put on the blacklist."""
    return party.kind == LISTABLE_KIND or LISTABLE_KIND in party.roles


class Blacklist:
    """Enforces and edits the blacklist kept in the store."""

    def __init__(self, store: RecordStore, *, ttl: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._listed: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._generation = 0

    def listed(self) -> frozenset[str]:
        """The parties listed now (at most `ttl` seconds old); raises StoreUnavailable."""
        now = self._monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._listed
            generation = self._generation
        listed = frozenset(row.party for row in self._store.list_blacklist())
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

    def _forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._read_at = None

    def add(self, catalogue: Catalogue, party_id: str, *, by: str, reason: str,
            at: str) -> BlacklistRow:
        """List a credit agency; raises NotFound, FailedPrecondition."""
        party = catalogue.parties.get(party_id)
        if party is None:
            raise NotFound("no registered party with this id", reason="party_unknown")
        if not listable(party):
            raise FailedPrecondition("only credit agencies can be blacklisted",
                                     reason="not_listable")
        try:
            return self._store.blacklist_party(BlacklistRow(party=party_id, listed_at=at,
                                                            listed_by=by, reason=reason))
        finally:
            self._forget()

    def lift(self, party_id: str, *, by: str, reason: str, at: str) -> BlacklistRow:
        """Lift a listing; raises FailedPrecondition when the party is not listed."""
        try:
            return self._store.lift_blacklist(party_id, at=at, by=by, reason=reason)
        finally:
            self._forget()

    def entries(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and lifted ones on request)."""
        return self._store.list_blacklist(include_lifted=include_lifted)
