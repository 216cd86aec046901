"""Alerts and acknowledgements as audit entries, and back (tamper-evident by construction).

An alert entry (action ``alert``): requester ``monitor``, purpose ``supervision``,
``policy_rule`` the rule id, ``request_id`` the alert id, ``subject_index`` the blind
index when the rule is about one person, ``record_count`` the number of triggering
entries, and ``reason`` in one fixed grammar::

    <severity> party=<party id or ""> entries=<seq>,<seq>,...

An acknowledgement (action ``alert.ack``): requester the regulator, ``policy_rule`` the
rule, ``reason`` ``ack <alert id> note=<sealed note>``. The regulator's note is free
text, so the log holds it sealed (field encryption bound to the acknowledgement); it is
opened for regulators only. Nothing else in either entry is free text.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

from gateway.audit.entry import AuditEntry
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.monitoring.engine import Alert

ALERT_ACTION = "alert"
ACK_ACTION = "alert.ack"
MONITOR = "monitor"
SUPERVISION = "supervision"
_ALERT_REASON = re.compile(r"(low|medium|high|critical) party=([a-z0-9_]*) "
                           r"entries=([0-9]+(?:,[0-9]+)*)")
_ACK_REASON = re.compile(r"ack (al-[a-z2-7]{24}) note=([A-Za-z0-9+/=]*)")
_SEAL_CATEGORY = "alert_ack"
#: The bytes every alert or acknowledgement entry holds (a cheap filter on raw entries).
MARKER = b'"action":"alert'


@dataclass(frozen=True)
class AlertRecord:
    """An alert or an acknowledgement read back from the log."""

    seq: int
    kind: str  # "alert" | "ack"
    alert_id: str
    rule: str
    time: datetime
    severity: str = ""
    party: str = ""
    subject_index: str = ""
    trigger_seqs: tuple[int, ...] = ()
    acked_by: str = ""
    note: str = ""


def alert_entry(alert: Alert, *, now: datetime, version: str) -> AuditEntry:
    """The audit entry of an alert."""
    return AuditEntry(
        time=now, trace_id="", requester=MONITOR, action=ALERT_ACTION, purpose=SUPERVISION,
        subject_index=alert.subject_index, categories=(), fields_released=(), consent_id="",
        policy_rule=alert.rule, policy_version=version, decision="allow",
        reason=(f"{alert.severity} party={alert.party} "
                f"entries={','.join(map(str, alert.trigger_seqs))}"),
        request_id=alert.alert_id, record_count=len(alert.trigger_seqs))


def note_field(alert_id: str, request_id: str) -> FieldContext:
    """What an acknowledgement's note is sealed to: the alert and the acknowledging call."""
    return FieldContext(f"{alert_id}@{request_id}", _SEAL_CATEGORY, "note")


def seal_note(cipher: FieldCipher, *, alert_id: str, request_id: str, note: str) -> str:
    """The note sealed to this acknowledgement (base64), "" for no note."""
    if not note:
        return ""
    blob = cipher.seal(note_field(alert_id, request_id), note)
    return base64.b64encode(blob).decode("ascii")


def ack_reason(alert_id: str, sealed_note: str) -> str:
    """The reason text of an acknowledgement entry."""
    return f"ack {alert_id} note={sealed_note}"


def read_record(seq: int, entry: AuditEntry, cipher: FieldCipher | None = None
                ) -> AlertRecord | None:
    """The alert or acknowledgement an entry holds (None for any other entry).

    With a cipher the acknowledgement's note is opened (raises DecryptionError if it
    was tampered with); without one it stays out.
    """
    if entry.action == ALERT_ACTION and entry.requester == MONITOR:
        match = _ALERT_REASON.fullmatch(entry.reason)
        if match is None:
            return None
        return AlertRecord(seq=seq, kind="alert", alert_id=entry.request_id,
                           rule=entry.policy_rule, time=entry.time, severity=match.group(1),
                           party=match.group(2), subject_index=entry.subject_index,
                           trigger_seqs=tuple(int(s) for s in match.group(3).split(",")))
    if entry.action == ACK_ACTION and entry.decision == "allow":
        match = _ACK_REASON.fullmatch(entry.reason)
        if match is None:
            return None
        alert_id, sealed = match.group(1), match.group(2)
        note = ""
        if cipher is not None and sealed:
            note = cipher.open(note_field(alert_id, entry.request_id),
                               base64.b64decode(sealed))
        return AlertRecord(seq=seq, kind="ack", alert_id=alert_id, rule=entry.policy_rule,
                           time=entry.time, acked_by=entry.requester, note=note)
    return None
