"""Regulators page and export without surprises: page tokens, -, CSV with a BOM,
JSON numbers and null."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import KEYS


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


class Bytes(io.StringIO):
    """Standard output with a byte buffer, like the real one."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def test_pages_json_csv_and_standard_output(live: LiveGateway, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        live.client("court").submit_records([debtor_record(f"AQ-{i}")])
    target = ["--target", live.target]
    assert main(["audit", "query", "--limit", "2", "--json", *target]) == 0
    out, err = capsys.readouterr()
    first = json.loads(out)
    assert [e["seq"] for e in first] == [1, 2]  # numbers, not strings
    assert first[0]["consent_id"] is None and first[0]["purpose"] == "submission"
    [token] = [w for w in err.split() if w not in ("more", "entries:", "--all,", "or",
                                                    "continue", "with", "--page-token")]
    assert main(["audit", "query", "--limit", "2", "--page-token", token, "--json",
                 *target]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second[0]["seq"] == 3
    # CSV with a byte order mark, to a file and to standard output.
    path = tmp_path / "log.csv"
    assert main(["audit", "query", "--all", "--csv", str(path), *target]) == 0
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["seq"] == "1" and rows[0]["requester"] == "court"
    assert rows[0]["consent_id"] == ""  # nothing recorded: empty, not "-"
    assert main(["audit", "query", "--all", "--csv", str(path), *target]) == 2
    assert "--force" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["audit", "query", "--all", "--csv", "-", *target]) == 0
    assert capsys.readouterr().out.startswith("\ufeffseq,time,requester")
    # The export to standard output, its checkpoint kept apart; it verifies.
    stdout = Bytes()
    monkeypatch.setattr("sys.stdout", stdout)
    kept = tmp_path / "kept.checkpoint"
    assert main(["audit", "export", "-", "--checkpoint-out", str(kept), *target]) == 0
    monkeypatch.undo()
    export = tmp_path / "piped.jsonl"
    export.write_bytes(stdout.buffer.getvalue())
    assert main(["audit", "verify", str(export), "--checkpoint", str(kept), "--log-key",
                 str(KEYS / "gateway.log.pub")]) == 0
