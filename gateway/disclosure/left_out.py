"""Why the public feed left a record out, counted so the website can say so (双公示).

The feed reports, per run, how many records of the categories it publishes it did not
publish and why: a severity the rules do not make public (a minor penalty), past its
display period, disputed (an objection is open), no recorded agreement of the person
(honour lists), the person was a minor on the event date, withheld by the privacy
review, or received from a peer platform (its origin publishes it). Counts only: never
which records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date

from gateway.catalogue.registry import Category
from gateway.records.lifecycle import in_use, publishable
from gateway.records.model import StoredRecord

#: Reason code -> 中文, in the order the feed reports them.
REASONS = {
    "severity_not_public": "该严重程度不予公示",
    "display_ended": "已过展示期限",
    "disputed": "异议处理中",
    "no_agreement": "本人未同意公示",
    "subject_under_18": "未成年人信息",
    "withheld_by_review": "隐私审查未通过",
    "from_peer": "由来源平台公示",
}


def why_left_out(record: StoredRecord, category: Category, today: date,
                 agreed: Callable[[StoredRecord], bool]) -> str | None:
    """The reason the feed leaves an active record of a public category out, or None."""
    if record.origin:
        return "from_peer"  # the platform it came from publishes it, not this one
    if not category.publishes(record.severity):
        return "severity_not_public"
    if not in_use(record, today):
        return "display_ended"
    if record.disputed:
        return "disputed"
    if category.publish_with_agreement and not agreed(record):
        return "no_agreement"
    if not publishable(record, category, today):  # the lifecycle's own rule has the last word
        return "display_ended"
    return None


def ordered(counts: Counter[str]) -> list[tuple[str, int]]:
    """The non-zero counts in the order of REASONS."""
    return [(code, counts[code]) for code in REASONS if counts[code]]
