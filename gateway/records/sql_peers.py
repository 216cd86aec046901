"""The outbox to peer platforms and what peers pushed, in the one SQL store.

A mixin of :class:`gateway.records.sql_store.SqlStore`. A change of a record that the
sharing catalogue sends to a peer queues one ``peer_outbox`` row per peer *in the
transaction of the change* (:meth:`SqlPeers._changed`), so the change and its outbox
row commit together or not at all: nothing is lost in a crash and nothing is sent that
did not happen. A row names the record and why it changed, not its content: the pusher
reads the record as it stands when it sends (gateway/peers/outbox.py). Records received
from a peer are never queued again (no echo back to their origin).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from gateway.errors import StoreUnavailable
from gateway.records.lifecycle import ACTIVE, AWAITING_ALLOW
from gateway.records.model import StoredRecord
from gateway.records.peer_rows import OutboxItem, ReceivedChange
from gateway.records.sql_dialect import Database, Sql, marks
from gateway.records.sql_rows import (
    INSERT_RECORD,
    SELECT_RECORD,
    encode_fields,
    record_from_row,
    record_params,
)

#: Why a record left use at its origin, when that was the end of its display period.
DISPLAY_ENDED = "display_ended"


class SqlPeers:
    """Outbox and received-change methods of the RecordStore contract (mixin)."""

    _db: Database
    #: category -> the peers its records go to (gateway.records.sharing.routes).
    _routes: Mapping[str, tuple[str, ...]] = {}

    def route_changes(self, routes: Mapping[str, tuple[str, ...]]) -> None:
        """Queue from now on the changes of these categories' records for these peers."""
        self._routes = dict(routes)

    # -- sender -----------------------------------------------------------------------

    def _queue(self, sql: Sql, record_id: str, category: str, origin: str, change: str,
               at: str) -> None:
        if origin:
            return  # a record from a peer changes only at its origin
        for peer in self._routes.get(category, ()):
            sql.run("INSERT INTO peer_outbox (peer, record_id, change, queued_at) "
                    "VALUES (?, ?, ?, ?)", (peer, record_id, change, at))

    def _changed(self, sql: Sql, record_id: str, change: str, at: str) -> None:
        """Queue a change of a stored record for the peers its category goes to."""
        if not self._routes:
            return
        row = sql.one("SELECT category, origin FROM records WHERE record_id = ?",
                      (record_id,))
        if row is not None:
            self._queue(sql, record_id, row[0], row[1], change, at)

    def outbox(self, peer: str, *, limit: int = 100) -> list[OutboxItem]:
        """The peer's oldest queued changes, in the order they happened."""
        rows = self._db.read(lambda sql: sql.all(
            "SELECT seq, record_id, change FROM peer_outbox WHERE peer = ? "
            "ORDER BY seq LIMIT ?", (peer, limit)))
        return [OutboxItem(int(r[0]), r[1], r[2]) for r in rows]

    def outbox_records(self, record_ids: Collection[str]) -> dict[str, StoredRecord]:
        """The records a batch of queued changes names, in one read (any state but
        pending, with their disputed marks)."""
        ids = sorted(set(record_ids))
        if not ids:
            return {}
        rows = self._db.read(lambda sql: sql.all(
            f"{SELECT_RECORD} WHERE record_id IN {marks(ids)} AND state <> ?",
            (*ids, AWAITING_ALLOW)))
        return {r.record_id: r for r in map(record_from_row, rows)}

    def outbox_depth(self, peer: str) -> int:
        """How many changes wait for the peer."""
        row = self._db.read(lambda sql: sql.one(
            "SELECT count(*) FROM peer_outbox WHERE peer = ?", (peer,)))
        return int(row[0]) if row else 0

    def outbox_delivered(self, peer: str, seqs: Sequence[int]) -> None:
        """The peer acknowledged these changes: they leave the outbox."""
        if not seqs:
            return
        ids = list(seqs)
        self._db.write(lambda sql: sql.run(
            f"DELETE FROM peer_outbox WHERE peer = ? AND seq IN {marks(ids)}",
            (peer, *ids)), records=False)

    def claim_peer(self, peer: str, *, holder: str, now_s: int, until_s: int) -> bool:
        """Take or renew the lease to push to a peer; False while another holds it."""

        def work(sql: Sql) -> bool:
            sql.run("INSERT INTO peer_leases (peer, holder, until_s) VALUES (?, ?, 0) "
                    "ON CONFLICT (peer) DO NOTHING", (peer, holder))
            return sql.run("UPDATE peer_leases SET holder = ?, until_s = ? WHERE peer = ? "
                           "AND (holder = ? OR until_s < ?)",
                           (holder, until_s, peer, holder, now_s)) == 1

        return bool(self._db.write(work, durable=False, records=False))

    def queue_display_ends(self, today: date, *, at: str, limit: int = 500) -> int:
        """Queue the end of display of shared records whose display period is over (once
        per record); returns how many were queued."""
        kinds = sorted(self._routes)
        if not kinds:
            return 0

        def work(sql: Sql) -> int:
            rows = sql.all(
                "SELECT record_id, category FROM records WHERE display_end IS NOT NULL "
                f"AND display_end < ? AND state = ? AND origin = '' AND category IN "
                f"{marks(kinds)} AND record_id NOT IN (SELECT record_id FROM "
                "peer_display_ended) ORDER BY record_id LIMIT ?",
                (today.isoformat(), ACTIVE, *kinds, limit))
            queued = 0
            for record_id, category in rows:
                # Another instance may queue the same end at the same moment: once only.
                if sql.run("INSERT INTO peer_display_ended (record_id, queued_at) "
                           "VALUES (?, ?) ON CONFLICT (record_id) DO NOTHING",
                           (record_id, at)) == 1:
                    self._queue(sql, record_id, category, "", DISPLAY_ENDED, at)
                    queued += 1
            return queued

        return int(self._db.write(work, records=False))

    # -- receiver ---------------------------------------------------------------------

    def received_seqs(self, origin: str, record_ids: Collection[str]) -> dict[str, int]:
        """The last change applied per record of an origin (absent: none yet)."""
        ids = list(record_ids)
        if not ids:
            return {}
        rows = self._db.read(lambda sql: sql.all(
            f"SELECT record_id, last_seq FROM peer_received WHERE origin = ? AND record_id "
            f"IN {marks(ids)}", (origin, *ids)))
        return {r[0]: int(r[1]) for r in rows}

    def apply_received(self, origin: str, changes: Sequence[ReceivedChange]) -> int:
        """Apply a peer's changes in one transaction, each record's once and in order;
        returns how many were applied (the rest had been). Raises StoreUnavailable."""
        return int(self._db.write(lambda sql: self._apply_received(sql, origin, changes)))

    def _apply_received(self, sql: Sql, origin: str, changes: Sequence[ReceivedChange]
                        ) -> int:
        return sum(self._apply_one(sql, origin, change) for change in changes)

    def _apply_one(self, sql: Sql, origin: str, change: ReceivedChange) -> int:
        last = sql.one("SELECT last_seq FROM peer_received WHERE origin = ? AND record_id = ?",
                       (origin, change.origin_record_id))
        if last is not None and int(last[0]) >= change.seq:
            return 0
        rec = change.record
        if rec is not None:
            if sql.one(INSERT_RECORD, record_params(rec)) is None:
                # Known already: the origin's record as it stands now (a disputed mark,
                # a field the origin's policy now masks), under the same local id.
                updated = sql.run(
                    "UPDATE records SET subject_index = ?, subject_ct = ?, severity = ?, "
                    "event_date = ?, display_end = ?, fields = ?, domain = ?, occupation = ?, "
                    "state = ?, state_at = NULL, state_ref = '', origin_provider = ?, "
                    "origin_disputed = ? WHERE record_id = ? AND origin = ?",
                    (rec.subject_index, rec.subject_ciphertext, rec.severity,
                     rec.event_date.isoformat(),
                     rec.display_end.isoformat() if rec.display_end else None,
                     encode_fields(rec.fields), rec.domain, rec.occupation, ACTIVE,
                     rec.origin_provider, int(rec.disputed), rec.record_id, origin))
                if updated != 1:
                    raise StoreUnavailable("record store unavailable",
                                           detail="a received record's id is taken")
            else:
                sql.run("UPDATE records SET origin_disputed = ? WHERE record_id = ?",
                        (int(rec.disputed), rec.record_id))
        else:
            # Out of use at the origin: out of use here, and nothing of the person is
            # kept (the city no longer shows it, so the province holds none of it).
            sql.run("UPDATE records SET state = ?, state_at = ?, state_ref = ?, fields = ?, "
                    "subject_index = '', subject_ct = ?, origin_disputed = 0 "
                    "WHERE origin = ? AND source_record_id = ?",
                    (change.state, change.at, f"origin:{change.reason or change.state}",
                     encode_fields({}),
                     b"", origin, change.origin_record_id))
        if last is None:
            sql.run("INSERT INTO peer_received (origin, record_id, last_seq) VALUES (?, ?, ?)",
                    (origin, change.origin_record_id, change.seq))
        else:
            sql.run("UPDATE peer_received SET last_seq = ? WHERE origin = ? AND record_id = ?",
                    (change.seq, origin, change.origin_record_id))
        return 1
