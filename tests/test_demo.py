"""`make demo` runs the main job end to end and exits 0."""

from __future__ import annotations

import pytest

from gateway.demo import run_demo


def test_demo_runs_every_step_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo() == 0
    out = capsys.readouterr().out
    assert "0 unexpected outcome(s)" in out
    assert "refused: PERMISSION_DENIED" in out
    assert "audit log" in out
    assert "signed checkpoint at size" in out and ": verified" in out
