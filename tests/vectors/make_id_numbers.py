"""Regenerate tests/vectors/id_numbers.json (run from the repository root)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from gateway.pii.idnumber import make_id_number


def main() -> None:
    """Write the vector file."""
    valid = {
        "standard-example": "11010519491231002X",
        "hangzhou-1982": make_id_number("330106", date(1982, 4, 17), 113),
        "beijing-leap-day": make_id_number("110105", date(2000, 2, 29), 42),
        "shenzhen-2008": make_id_number("440305", date(2008, 9, 1), 7),
    }
    good = valid["hangzhou-1982"]
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    invalid = {
        "check-digit-wrong": wrong_check,
        "too-short": good[:17],
        "too-long": good + "1",
        "letter-inside": good[:5] + "A" + good[6:],
        "birth-date-impossible": make_id_number("330106", date(1999, 1, 1), 5)[:10]
        + "0230" + "005",
        "birth-in-future": make_id_number("330106", date(2099, 1, 1), 5),
        "empty": "",
        "full-width-digits": "３３０１０６１９８２０４１７１１３Ｘ",
    }
    # The impossible-date vector needs a correct check digit to test the date rule alone.
    from gateway.pii.idnumber import check_character

    bad_date = invalid["birth-date-impossible"]
    invalid["birth-date-impossible"] = bad_date[:17] + check_character(bad_date[:17])
    path = Path(__file__).with_name("id_numbers.json")
    path.write_text(json.dumps({"valid": valid, "invalid": invalid}, ensure_ascii=False,
                               indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
