"""Constants the tests share: where things are, a fixed instant, synthetic people."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from gateway.pii.idnumber import make_id_number

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
KEYS = REPO / "keys_example"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

# Synthetic, valid, fictitious ID numbers.
ADULT = make_id_number("330106", date(1982, 4, 17), 113)
OTHER_ADULT = make_id_number("110105", date(1975, 6, 30), 58)
TEENAGER = make_id_number("440305", date(2010, 3, 12), 21)  # 16 in 2026
