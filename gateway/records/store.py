"""The store interface: what the gateway needs from a database, nothing more.

One SQL store implements it (gateway.records.sql_store) over a dialect adapter:
SQLite (gateway.records.sqlite_store) is the embedded default, PostgreSQL
(gateway.records.postgres_store) the shared one; the domain code never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from gateway.records.lifecycle_rows import BlacklistRow, ObjectionRow, RepairRow
from gateway.records.model import CountyRecordRow, PendingRecord, PutResult, StoredRecord
from gateway.records.peer_rows import OutboxItem, ReceivedChange
from gateway.records.sql_policy import PolicyVersionRecord
from gateway.records.sql_rekey import SealedRow

if TYPE_CHECKING:  # changes.py builds on this module's rows
    from gateway.records.changes import Change, R, StagedChange


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """A registered consent artefact as stored (artefact bytes encrypted)."""

    consent_id: str
    issuer: str
    grantee: str
    purpose: str
    subject_index: str
    not_before: str
    not_after: str
    max_uses: int
    artefact_ciphertext: bytes
    signature: bytes
    issued_at: str
    uses: int = 0
    revoked_at: str | None = None
    revoke_reason: str = ""

    def __repr__(self) -> str:
        return f"ConsentRow(consent_id={self.consent_id!r}, grantee={self.grantee!r})"


class RecordStore(Protocol):
    """Persistence for records and consents."""

    def put_records(self, records: Sequence[StoredRecord], *, pending_for: str = "",
                    at: datetime | None = None) -> list[PutResult]:
        """Store a batch atomically, idempotent per (provider, source_record_id).

        With `pending_for` (a request id) and `at` the records are stored pending for
        that request (gateway.records.lifecycle). Raises AlreadyExists (naming the batch
        index) when a source id was stored before with different content; then nothing
        of the batch is stored.
        """
        ...

    def activate_pending(self, record_ids: Sequence[str]) -> int:
        """Make pending records active; returns how many were still pending."""
        ...

    def pending_records(self, *, pending_before: datetime, limit: int = 1000
                        ) -> list[PendingRecord]:
        """Records pending since before a time, oldest first."""
        ...

    def drop_pending(self, record: PendingRecord) -> bool:
        """Drop a pending record as listed; False when it changed since."""
        ...

    # -- changes awaiting their call's allow entry (gateway.records.changes) -----------

    def stage_change(self, change: Change[R], *, request_id: str, at: datetime) -> R:
        """Keep a change for the request's allow entry, after its own checks, and say
        what it will give; raises what the change would raise now, or
        FailedPrecondition (change_under_way)."""
        ...

    def apply_changes(self, request_id: str) -> int:
        """Make the changes staged for a request; returns how many there were."""
        ...

    def drop_changes(self, request_id: str) -> int:
        """Drop what a request staged; returns how many there were."""
        ...

    def pending_changes(self, *, pending_before: datetime, limit: int = 1000
                        ) -> list[StagedChange]:
        """Changes staged before a time, oldest first."""
        ...

    def drop_pending_change(self, staged: StagedChange) -> bool:
        """Drop a staged change as listed; False when it went since."""
        ...

    def awaiting_targets(self, kind: str) -> set[str]:
        """The targets of the staged changes of one kind."""
        ...

    def find_records(
        self, subject_indexes: Sequence[str], categories: Collection[str], *,
        archived: bool = False,
    ) -> list[StoredRecord]:
        """Records of a subject (by any of its blind indexes) in the given categories.

        Only live (state "active") records, unless `archived` asks for every version;
        whether a record is past its display period is the caller's check
        (gateway.records.lifecycle.in_use).
        """
        ...

    def records_in_categories(self, categories: Collection[str], *, after: str = "",
                              limit: int = 500) -> list[StoredRecord]:
        """Active records of any subject in the categories, by record id after `after`.

        The disclosure feed pages through public categories with it.
        """
        ...

    def records_page(self, *, after: str = "", limit: int = 500) -> list[StoredRecord]:
        """Records in any state, by record id after `after` (for re-encryption)."""
        ...

    def rekey_records(self, changes: Sequence[tuple[StoredRecord, StoredRecord]]
                      ) -> list[bool]:
        """Replace (old, new) records' blind index and ciphertexts where still old's
        (a compare-and-set each, one transaction)."""
        ...

    def sealed_page(self, table: str, *, after: str = "", limit: int = 500) -> list[SealedRow]:
        """Rows of a sealed table (objections, repairs, blacklist) by key after `after`."""
        ...

    def get_sealed(self, table: str, key: str) -> SealedRow | None:
        """The row of a sealed table with this key, or None."""
        ...

    def rekey_sealed(self, table: str, changes: Sequence[tuple[SealedRow, SealedRow]]
                     ) -> list[bool]:
        """Write (old, new) rows' sealed columns where they still hold old's."""
        ...

    def consents_page(self, *, after: str = "", limit: int = 500) -> list[ConsentRow]:
        """Consents by id after `after` (for re-encryption)."""
        ...

    def rekey_consents(self, changes: Sequence[tuple[ConsentRow, ConsentRow]]) -> list[bool]:
        """Replace (old, new) consents' index, artefact and reason where still old's."""
        ...

    def put_consent(self, row: ConsentRow) -> bool:
        """Register a consent; False when the same artefact was registered before.

        Raises AlreadyExists when the id is taken by a different artefact.
        """
        ...

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        """The consent with this id, or None."""
        ...

    def revoke_consent(self, consent_id: str, *, at: str, reason: str) -> ConsentRow:
        """Mark a consent revoked (idempotent); raises NotFound."""
        ...

    def use_consent(self, consent_id: str, *, request_id: str = "", used_by: str = "",
                    at: datetime | None = None) -> int:
        """Count one use atomically; returns the new count.

        With a `request_id`, records which request (at which instance, when) used it,
        until settle_consent_use or give_back_consent_use. Raises ConsentRefused when
        the consent is revoked or used up by then.
        """
        ...

    def give_back_consent_use(self, request_id: str) -> bool:
        """Give back the use a request made; False when it has none outstanding."""
        ...

    def settle_consent_use(self, request_id: str) -> None:
        """The request's allow entry committed: its consent use stays spent."""
        ...

    def settle_consent_uses(self, request_ids: Sequence[str]) -> None:
        """Several requests' allow entries committed: their uses stay spent."""
        ...

    def unsettled_consent_uses(self, *, used_before: datetime, used_by: str | None = None,
                               limit: int = 1000) -> list[tuple[str, str, datetime]]:
        """Uses made before a time (by one instance, or any) with no outcome yet, oldest
        first."""
        ...

    # -- record lifecycle (gateway.records.lifecycle) ---------------------------------

    def get_record(self, record_id: str) -> StoredRecord | None:
        """The record with this id in any state (with its disputed mark), or None."""
        ...

    def find_record_by_source(self, provider: str, source_record_id: str) -> StoredRecord | None:
        """The provider's record with its own source id, in any state, or None."""
        ...

    def retire_record(self, record_id: str, *, state: str, at: str, ref: str) -> StoredRecord:
        """Take an active record out of use (kept as evidence); raises NotFound, or
        FailedPrecondition when it is not active."""
        ...

    def revise_record(self, record_id: str, *, at: str, reason: str,
                      correction: StoredRecord | None = None) -> StoredRecord:
        """The provider's own correction (``correction`` supersedes the record) or withdrawal
        (state_ref: the reason code) in one transaction; raises NotFound,
        FailedPrecondition (not active) or AlreadyExists (the correction's source id)."""
        ...

    def disputed_record_ids(self, record_ids: Collection[str]) -> set[str]:
        """The ids among `record_ids` that have an open objection."""
        ...

    def submission_lags(self) -> list[tuple[str, int]]:
        """(provider, days from event date to submission) of every original submission."""
        ...

    def publication_times(self, categories: Collection[str]
                          ) -> list[tuple[str, str, str, date]]:
        """(provider, category, submitted_at, event date) of every original submission of
        the categories, in any state but pending (双公示 timeliness)."""
        ...

    def county_records(self) -> list[CountyRecordRow]:
        """Every record that belongs to a county, as supervision counts it."""
        ...

    def put_objection(self, row: ObjectionRow) -> None:
        """File an objection; raises NotFound, or FailedPrecondition when the record is not
        active or already has an open objection."""
        ...

    def put_forwarded_objection(self, row: ObjectionRow) -> None:
        """Keep an objection to a received record, forwarded to its origin."""
        ...

    def settle_forwarded_objection(self, objection_id: str, *, outcome: str, at: str,
                                   by: str, answer_ciphertext: bytes) -> ObjectionRow:
        """Record the origin's answer to a forwarded objection."""
        ...

    def get_objection(self, objection_id: str) -> ObjectionRow | None:
        """The objection with this id, or None."""
        ...

    def list_objections(self, *, provider: str | None = None,
                        subject_indexes: Sequence[str] = (), status: str | None = None,
                        due_before: str | None = None, limit: int = 1000) -> list[ObjectionRow]:
        """Objections matching every given filter (due_before: due date earlier than this
        ISO date), oldest first."""
        ...

    def answer_objection(self, objection_id: str, *, outcome: str, at: str, by: str,
                         answer_ciphertext: bytes,
                         correction: StoredRecord | None = None) -> ObjectionRow:
        """Answer an open objection and supersede (with `correction`) or withdraw its
        record in one transaction; raises NotFound, FailedPrecondition or AlreadyExists."""
        ...

    def put_repair(self, row: RepairRow) -> None:
        """File a repair application; raises NotFound, or FailedPrecondition when the
        record is not active or an application for it is pending."""
        ...

    def get_repair(self, repair_id: str) -> RepairRow | None:
        """The repair application with this id, or None."""
        ...

    def list_repairs(self, *, approver: str | None = None, subject_indexes: Sequence[str] = (),
                     status: str | None = None, limit: int = 1000) -> list[RepairRow]:
        """Repair applications matching every given filter, oldest first."""
        ...

    def decide_repair(self, repair_id: str, *, approve: bool, at: str, by: str,
                      decision_ciphertext: bytes) -> RepairRow:
        """Approve (the record becomes "repaired") or reject a pending application, in one
        transaction; raises NotFound or FailedPrecondition."""
        ...

    def blacklist_party(self, row: BlacklistRow) -> BlacklistRow:
        """List a party; raises FailedPrecondition when it is listed already."""
        ...

    def lift_blacklist(self, party: str, *, at: str, by: str, reason: str) -> BlacklistRow:
        """Lift a party's listing; raises FailedPrecondition when it is not listed."""
        ...

    def list_blacklist(self, *, include_lifted: bool = False) -> list[BlacklistRow]:
        """Listings in force (and lifted ones on request), oldest first."""
        ...

    # -- shared request state (gateway.records.sql_requests) --------------------------

    def remember_request(self, digest: str, *, at: datetime, forget_before: datetime) -> bool:
        """Remember a verified request's digest; False when it is remembered already
        (a replay, at this instance or any other on the database)."""
        ...

    def remember_requests(self, seen: Sequence[tuple[str, datetime]]) -> None:
        """Re-seed the replay memory with digests read back from the audit log."""
        ...

    # -- peer platforms (gateway.records.sql_peers) -----------------------------------

    def route_changes(self, routes: Mapping[str, tuple[str, ...]]) -> None:
        """Queue from now on the changes of these categories' records for these peers."""
        ...

    def outbox(self, peer: str, *, limit: int = 100) -> list[OutboxItem]:
        """The peer's oldest queued changes, in the order they happened."""
        ...

    def outbox_records(self, record_ids: Collection[str]) -> dict[str, StoredRecord]:
        """The records a batch of queued changes names, in one read."""
        ...

    def outbox_depth(self, peer: str) -> int:
        """How many changes wait for the peer."""
        ...

    def outbox_delivered(self, peer: str, seqs: Sequence[int]) -> None:
        """The peer acknowledged these changes: they leave the outbox."""
        ...

    def claim_peer(self, peer: str, *, holder: str, now_s: int, until_s: int) -> bool:
        """Take or renew the lease to push to a peer; False while another holds it."""
        ...

    def queue_display_ends(self, today: date, *, at: str, limit: int = 500) -> int:
        """Queue the end of display of shared records whose display period is over."""
        ...

    def received_seqs(self, origin: str, record_ids: Collection[str]) -> dict[str, int]:
        """The last change applied per record of an origin (absent: none yet)."""
        ...

    def apply_received(self, origin: str, changes: Sequence[ReceivedChange]) -> int:
        """Apply a peer's changes in one transaction, each record's once and in order."""
        ...

    # -- policy versions (gateway.records.sql_policy) ----------------------------------

    def put_policy_bundle(self, bundle_hash: str, files: Mapping[str, bytes]) -> None:
        """Keep a bundle's files under its hash."""
        ...

    def policy_bundle(self, bundle_hash: str) -> dict[str, bytes] | None:
        """A kept bundle's files, or None."""
        ...

    def policy_head(self) -> tuple[int, str]:
        """(version id, bundle hash) of the version in force; (0, "") before any rollout."""
        ...

    def add_policy_version(self, *, version: str, bundle_hash: str, author: str,
                           proposed_at: str, status: str, over_bundle: str, approver: str = "",
                           decided_at: str = "", reason: str = "",
                           diff: Mapping[str, object] | None = None) -> PolicyVersionRecord:
        """Record a proposal; an active one takes the head (FailedPrecondition when another
        went live since it was diffed over `over_bundle`)."""
        ...

    def activate_policy_version(self, version_id: int, *, approver: str, at: str,
                                over_bundle: str, comment: str = "") -> PolicyVersionRecord:
        """Make a pending version the one in force; raises InvalidArgument or
        FailedPrecondition."""
        ...

    def reject_policy_version(self, version_id: int, *, at: str, reason: str,
                              comment: str) -> PolicyVersionRecord:
        """Turn a pending version down; raises InvalidArgument or FailedPrecondition."""
        ...

    def policy_versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        """The newest versions first."""
        ...

    def policy_version(self, version_id: int) -> PolicyVersionRecord | None:
        """One version, or None."""
        ...

    def wait_for_policy_change(self, timeout: float, stop: threading.Event) -> None:
        """Return when a policy change is announced, `stop` is set, or after `timeout`."""
        ...

    # -- quota counters (gateway.records.sql_quotas) -----------------------------------

    def lease_quota(self, bucket: str, *, limit: int, want: int, expires_at: int,
                    now: int) -> int:
        """Take up to `want` of a window's allowance of `limit`; the amount granted."""
        ...

    def give_back_quota(self, bucket: str, amount: int) -> None:
        """Return an unused lease to its window."""
        ...

    def lease_burst(self, bucket: str, *, capacity: int, per_minute: int, want: int,
                    now_ms: int) -> tuple[int, int]:
        """Take up to `want` burst tokens: (granted, milliseconds until the next one)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
