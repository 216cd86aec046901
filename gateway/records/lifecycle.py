"""The life of a record: in use, disputed, corrected, repaired, removed, expired.

A record is *in use* only while it is the live version (state "active") and within its
display period (展示期限). Every path that shows or uses records (QuerySubject, the
minimal-disclosure checks, and any disclosure feed or exchange) must pass records
through `in_use` (or `publishable` for the public feed); a record that left use stays
in the store as evidence and is never deleted.

States, and how a record leaves "active":

- superseded  a department answered an objection with a correction: a new version
              replaces it (the new record's `replaces` names the old one)
- withdrawn   a department answered an objection by withdrawing the record
- repaired    the deciding department approved the person's credit repair (信用修复)
- removed     the provider removed a record whose display lasts until removal (a court
              lifting a dishonest-judgment-debtor listing)

Before "active" a submitted record is *pending* (``state_ref`` names the request): it is
stored before the submission's allow entry and becomes active only after that entry
committed, so a submission's records and its audit entry commit together (issue 11). A
pending record is never shown, counted or found; what a failed or crashed call leaves
pending is made active or dropped by gateway.consent.uses.OutcomeSweeper, by whether the
request has an allow entry in the log. Every other change of state (removal, revision,
objection, repair, and the blacklist's and consents' changes) is staged the same way
and made by its call's allow entry (gateway.records.changes); a correction it adds is
pending until then, and goes live only with its change.
"""

from __future__ import annotations

from datetime import date

from gateway.catalogue.registry import Category
from gateway.records.display import add_months, display_start, is_displayable
from gateway.records.model import StoredRecord

AWAITING_ALLOW = "pending"
ACTIVE = "active"
SUPERSEDED = "superseded"
WITHDRAWN_STATE = "withdrawn"
REPAIRED = "repaired"
REMOVED = "removed"
STATES = (ACTIVE, SUPERSEDED, WITHDRAWN_STATE, REPAIRED, REMOVED)

#: Why a provider removes a record shown until removal (RemoveRecord), code -> 中文.
REMOVAL_REASONS = {
    "obligation_performed": "已履行义务",
    "decision_revoked": "决定被撤销",
    "listing_period_ended": "惩戒期限届满",
    "entered_in_error": "信息录入错误",
    "agreement_withdrawn": "本人撤回同意",
}

# Why a provider corrects or withdraws its own record (ReviseRecord) is catalogue data:
# catalogue.toml [revision_reasons], each with its Chinese name and legal basis.


def in_use(record: StoredRecord, today: date) -> bool:
    """Whether a record may be shown, shared, disclosed or counted today."""
    return record.state == ACTIVE and is_displayable(record.display_end, today)


def is_disputed(record: StoredRecord) -> bool:
    """Whether an objection to the record is open (queriers see the mark)."""
    return record.disputed


def publishable(record: StoredRecord, category: Category, today: date) -> bool:
    """Whether the public disclosure feed may carry the record: in use, public, undisputed."""
    return category.public and in_use(record, today) and not record.disputed


def removable(category: Category, record: StoredRecord) -> bool:
    """Whether the record's display lasts until its provider removes it."""
    return category.display_months.get(record.severity, 0) is None


def repair_opens(category: Category, record: StoredRecord) -> date | None:
    """The first day the person may apply for repair; None when it cannot be repaired."""
    rule = category.repair
    if rule is None or record.severity not in rule.after_months:
        return None
    return add_months(record.event_date, rule.after_months[record.severity])


def conduct_date(category: Category, record: StoredRecord) -> date:
    """The day the conduct a record describes ended (for look-backs such as the green
    channel): the display_from date when the record gives it in plain, else the event date.
    """
    if category.display_from:
        stored = record.fields.get(category.display_from)
        if stored is not None and stored.plain:
            try:
                return display_start(category, record.event_date,
                                     {category.display_from: stored.plain})
            except ValueError:
                pass  # validated at intake; the event date is the fallback
    return record.event_date
