"""`credgate audit verify`: exit codes 0 / 1 / 2, the verdict for people and for machines."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.audit.checkpointer import CheckpointStore
from gateway.audit.export import export_range
from gateway.cli import audit
from tests.audit.tamper import LOG_PUB_PATH, build_log, gateway_log


def run(argv: Sequence[str]) -> int:
    """Parse and run like `credgate` does, with only the audit group registered."""
    parser = argparse.ArgumentParser(prog="credgate")
    audit.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    build_log(path, [5, 10, 15])
    out = tmp_path / "export.jsonl"
    with gateway_log(path) as (log, evidence):
        export_range(log, evidence.tree, evidence.checkpointer, out)
    return out


def test_verified_export_exits_0(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:") and "15 (seq 1..15)" in out


def test_json_report(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["checked_sizes"] == [0, 5, 10, 15]


def test_checkpoint_and_previous_files(export: Path, tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "audit.db")
    older = tmp_path / "older.checkpoint"
    older.write_text(store.between(5, 5)[0].note)
    store.close()
    newest = export.with_name(export.name + ".checkpoint")
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH),
                "--checkpoint", str(newest), "--previous", str(older)]) == 0


def test_tampered_export_exits_1_naming_the_entry(export: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    header, *lines = export.read_bytes().split(b"\n")[:-1]
    lines[8] = lines[8].replace(b'"reason":""', b'"reason":"edited"')
    export.write_bytes(b"\n".join([header, *lines]) + b"\n")
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED:") and "first bad entry  seq 9 " in out
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad_seq"] == 9


@pytest.mark.parametrize("broken", ["missing-export", "not-an-export", "bad-key-file",
                                    "bad-checkpoint-file"])
def test_broken_input_exits_2(export: Path, tmp_path: Path, broken: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk"
    junk.write_text("junk\n")
    argv = {
        "missing-export": [str(tmp_path / "nope.jsonl"), "--log-key", str(LOG_PUB_PATH)],
        "not-an-export": [str(junk), "--log-key", str(LOG_PUB_PATH)],
        "bad-key-file": [str(export), "--log-key", str(junk)],
        "bad-checkpoint-file": [str(export), "--log-key", str(LOG_PUB_PATH),
                                "--checkpoint", str(junk)],
    }[broken]
    assert run(["audit", "verify", *argv]) == 2
    assert capsys.readouterr().err.startswith("credgate: ")


def test_progress_bar_on_request(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH),
                "--progress"]) == 0
    err = capsys.readouterr().err
    assert "verifying [" in err and "15/15 entries" in err


def test_an_export_cut_short_fails_against_the_checkpoint_saved_with_it(
        export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Cut to its first 5 entries and the checkpoints up to them, the export is
    # consistent in itself; only the checkpoint saved beside it shows what is missing.
    header, *lines = export.read_bytes().split(b"\n")[:-1]
    meta = json.loads(header)
    meta["last_seq"], meta["consistency"] = 5, []
    meta["checkpoints"] = [c for c in meta["checkpoints"] if int(c.split("\n")[1]) <= 5]
    export.write_bytes(b"\n".join([json.dumps(meta).encode(), *lines[:5]]) + b"\n")
    assert run(["audit", "verify", str(export), "--log-key", str(LOG_PUB_PATH)]) == 1
    assert "cut short" in capsys.readouterr().out
