"""The audit entry of one call, filled in step by step as the request path runs.

Every servicer fills a draft; the audit step turns it into the entry it appends (an
allow entry before anything leaves, or the deny entry of a refusal).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from gateway.audit.entry import AuditEntry

#: The reason suffix of a deny entry recorded without the caller's own text.
WITHHELD = "entry_text_withheld"


def new_request_id() -> str:
    """A fresh request id, the one every entry and record of a call names."""
    return f"req-{uuid.uuid4()}"


@dataclass
class AuditDraft:
    """The audit entry of one call, filled in step by step."""

    action: str
    requester: str = ""
    purpose: str = ""
    subject_index: str = ""
    categories: tuple[str, ...] = ()
    fields_released: tuple[str, ...] = ()
    consent_id: str = ""
    policy_rules: list[str] = field(default_factory=list)
    record_count: int = 0
    request_signature: str = ""
    request_id: str = field(default_factory=new_request_id)
    seq: int = 0

    def entry(self, *, now: datetime, policy_version: str, trace_id: str, decision: str,
              reason: str) -> AuditEntry:
        """The finished entry for this call; raises ValueError for text an entry refuses."""
        return AuditEntry(
            time=now,
            trace_id=trace_id,
            requester=self.requester,
            action=self.action,
            purpose=self.purpose,
            subject_index=self.subject_index,
            categories=self.categories,
            fields_released=self.fields_released,
            consent_id=self.consent_id,
            policy_rule="; ".join(dict.fromkeys(self.policy_rules)),
            policy_version=policy_version,
            decision=decision,
            reason=reason,
            request_id=self.request_id,
            record_count=self.record_count,
            request_signature=self.request_signature,
        )

    def deny_entry(self, *, now: datetime, policy_version: str, trace_id: str,
                   reason: str) -> AuditEntry:
        """The deny entry of a refused call; without the caller's own text if need be.

        An entry refuses text that looks like an ID number (and lone surrogates). Fields
        the caller wrote (a consent id, the signature header) could carry such text; the
        refusal must still be audited, so it is recorded without them, under its reason
        with WITHHELD added.
        """
        try:
            return self.entry(now=now, policy_version=policy_version, trace_id=trace_id,
                              decision="deny", reason=reason)
        except ValueError:
            self.consent_id = self.request_signature = ""
            return self.entry(now=now, policy_version=policy_version, trace_id=trace_id,
                              decision="deny", reason=f"{reason}; {WITHHELD}")
