"""`make demo` runs the main job end to end and exits 0."""

from __future__ import annotations

import pytest

from gateway.cli.common import display_width
from gateway.cli.demo_run import run_demo


def test_demo_runs_every_step_as_expected(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert run_demo() == 0
    out = capsys.readouterr().out
    assert "0 unexpected outcome(s)" in out
    assert "refused: PERMISSION_DENIED" in out
    assert "audit log" in out
    assert "signed checkpoint at size" in out and ": verified" in out
    # It fits an 80-column terminal and ends by naming the next three things to try.
    assert [line for line in out.splitlines() if display_width(line) > 80] == []
    lines = out.rstrip().splitlines()
    tail = lines[lines.index("next, try:"):]
    assert [line.split(".")[0].strip() for line in tail
            if line.strip()[:1].isdigit()] == ["1", "2", "3"]
