"""`credgate submit` at scale: batches, resume, every bad row by line, GBK files."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS

NAMES = ["subject_id", "category", "severity", "event_date", "source_record_id"]


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def court(live: LiveGateway) -> list[str]:
    return ["--target", live.target, "--party", "court", "--keys", str(KEYS)]


def write_csv(path: Path, records: list[dict[str, Any]], encoding: str = "utf-8") -> None:
    fields = list(records[0]["fields"])
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(NAMES + [f"field.{k}" for k in fields])
        for r in records:
            writer.writerow([r[n] for n in NAMES] + [r["fields"][k] for k in fields])


def test_batches_with_a_progress_bar_and_a_rerun_resumes(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "judgments.csv"
    write_csv(path, [debtor_record(f"BIG-{i:03d}") for i in range(20)])
    assert main(["submit", str(path), "--batch-size", "7", "--progress", *court(live)]) == 0
    out, err = capsys.readouterr()
    assert "stored 20 new record(s), 0 already present, in 3 batch(es)" in out
    assert "submitting" in err and "20/20" in err
    # A run cut short is resumed by running it again: stored records are recognised.
    write_csv(path, [debtor_record(f"BIG-{i:03d}") for i in range(25)])
    assert main(["submit", str(path), "--json", *court(live)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["already_present"]) == (5, 20)


def test_every_bad_row_is_named_by_line_and_column(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = debtor_record("ROW-OK")
    rows = [dict(good, source_record_id=f"ROW-{i}") for i in range(6)]
    rows[1] = dict(rows[1], severity="")                      # line 3: missing severity
    rows[3] = dict(rows[3], category="dishonest_detbor")      # line 5: a typo
    rows[4] = dict(rows[4], event_date="2026-13-01")          # line 6: no such date
    path = tmp_path / "rows.csv"
    write_csv(path, rows)
    assert main(["submit", str(path), *court(live)]) == 2
    err = capsys.readouterr().err
    assert "line 3, column 3 (severity): severity is required" in err
    assert ("line 5, column 2 (category): unknown category 'dishonest_detbor' "
            "(did you mean dishonest_debtor?)") in err
    assert "line 6, column 4 (event_date)" in err
    assert "3 problem(s); nothing was sent" in err
    assert ADULT not in err and "Traceback" not in err
    assert live.gw.audit.size() == 0


def test_json_rows_are_named_by_line_unknown_keys_and_missing_values_refused(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = debtor_record("J-1")
    second = {k: v for k, v in debtor_record("J-2").items() if k != "severity"}
    third = dict(debtor_record("J-3"), sevirity="serious")
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([first, second, third], ensure_ascii=False, indent=2),
                    encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [n for n, line in enumerate(lines, start=1) if line == "  {"]
    assert main(["submit", str(path), *court(live)]) == 2
    err = capsys.readouterr().err
    assert f"line {starts[1]}, key severity: severity is required" in err
    assert f"line {starts[2]}, record: unknown key 'sevirity' (did you mean severity?)" in err
    assert live.gw.audit.size() == 0


def test_gbk_files_are_read_and_other_bytes_say_how_to_convert(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excel.csv"
    write_csv(path, [debtor_record("GBK-1", court_name="杭州市中级人民法院")],
              encoding="gb18030")
    assert main(["submit", str(path), *court(live)]) == 0
    assert "GB 18030/GBK" in capsys.readouterr().err
    reply = live.client("org_department").query_subject(ADULT, "cadre_selection")
    assert "杭州市中级人民法院" in {f.value for r in reply.records for f in r.fields}
    garbled = tmp_path / "garbled.csv"
    garbled.write_bytes(b"subject_id,category\n\xff\xff\xff\n")
    assert main(["submit", str(garbled), *court(live)]) == 2
    assert "iconv -f GB18030 -t UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["records.xlsx", "records.txt", "records"])
def test_only_json_and_csv_files(live: LiveGateway, tmp_path: Path, name: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04")
    assert main(["submit", str(path), *court(live)]) == 2
    err = capsys.readouterr().err
    assert "only .json and .csv files can be submitted" in err
    assert err.count("\n") == 1


def test_a_refused_batch_names_its_line(live: LiveGateway, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # The local check passes (same catalogue), the gateway refuses the remit: the
    # tax bureau may not file court listings.
    path = tmp_path / "remit.csv"
    write_csv(path, [debtor_record("R-1")])
    args = ["--target", live.target, "--party", "tax_bureau", "--keys", str(KEYS),
            "--policies", str(tmp_path / "no-policies")]
    assert main(["submit", str(path), *args]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "Traceback" not in err


@pytest.mark.parametrize("text, wanted", [
    ('[{"a": 1},\n {"b": }]', "line 2, column 8: not valid JSON"),
    ('{"rows": []}', 'expected a list of records or {"records": [...]}'),
    ('[{}\n{}]', "line 2, column 1: expected , or ]"),
    ('[] []', "line 1, column 4: text after the records"),
])
def test_broken_json_is_named_by_line_and_column(live: LiveGateway, tmp_path: Path,
                                                 text: str, wanted: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    assert main(["submit", str(path), *court(live)]) == 2
    err = capsys.readouterr().err
    assert wanted in err and err.count("\n") == 1
