"""Reading alerts back from the audit log, from a position, for watchers and the CLI."""

from __future__ import annotations

from gateway.audit.entry import AuditEntry
from gateway.audit.shared import SharedAuditLog
from gateway.crypto.fields import FieldCipher
from gateway.monitoring.alerts import MARKER, AlertRecord, read_record
from gateway.monitoring.cursor import MonitorStore

_PAGE = 5000
#: Entries one `read` looks at most, so a watcher from seq 0 of a long log gets its
#: alerts page by page instead of after one long scan.
MAX_SCAN = 200_000


class AlertFeed:
    """Alerts and acknowledgements after a position; each alert id once (its claimed entry)."""

    def __init__(self, audit: SharedAuditLog, store: MonitorStore, cipher: FieldCipher | None,
                 *, after: int) -> None:
        self._audit, self._store, self._cipher = audit, store, cipher
        self.position = after

    def read(self) -> list[AlertRecord]:
        """What was logged after the position (up to MAX_SCAN entries); advances it."""
        found: list[AlertRecord] = []
        scanned = 0
        while scanned < MAX_SCAN:
            rows = self._audit.read_raw(start=self.position + 1, limit=_PAGE)
            for seq, data in rows:
                if MARKER not in data:
                    continue
                record = read_record(seq, AuditEntry.from_canonical(data), self._cipher)
                if record is not None and self._canonical(record):
                    found.append(record)
            if rows:
                self.position = rows[-1][0]
            scanned += len(rows)
            if len(rows) < _PAGE:
                break
        return found

    def _canonical(self, record: AlertRecord) -> bool:
        """An alert entry counts if it is the one its claim names (never a second copy)."""
        if record.kind != "alert":
            return True
        claimed, seq = self._store.alert(record.alert_id)
        return claimed and seq in (None, record.seq)

    def more(self) -> bool:
        """Whether the log has grown past the position."""
        return self._audit.size() > self.position

    @staticmethod
    def lookup(audit: SharedAuditLog, store: MonitorStore, alert_id: str) -> AlertRecord | None:
        """The logged alert with this id, or None."""
        _claimed, seq = store.alert(alert_id)
        if seq is None:
            return None
        rows = audit.read(start=seq, limit=1)
        record = read_record(seq, rows[0][1]) if rows else None
        return record if record is not None and record.alert_id == alert_id else None
