"""Errors say what to do: one line, the documented exit code, never a traceback."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and ADULT not in err, err
    assert err.count("\n") == 1 and err.startswith("credgate: "), err
    return err


def test_an_unreachable_gateway_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--party", "org_department",
                 "--target", "127.0.0.1:1"]) == 2
    err = one_line(capsys)
    assert "127.0.0.1:1" in err and "may not be running" in err


def test_missing_and_garbled_key_files(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--party", "org_department",
                 "--keys", str(tmp_path / "nowhere")]) == 2
    assert "no key file" in one_line(capsys)
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    (keys / "parties" / "org_department.sign.key").write_text("garbled\n", encoding="utf-8")
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--party", "org_department",
                 "--keys", str(keys)]) == 2
    one_line(capsys)


def test_a_certificate_from_another_ca_is_a_refusal(live: LiveGateway, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    other = tmp_path / "other-keys"
    assert main(["keys", "init", str(other)]) == 0
    capsys.readouterr()
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--party", "org_department",
                 "--keys", str(other), "--target", live.target]) in (1, 2)
    err = one_line(capsys)
    assert live.target in err and "certificate" in err


def test_a_bad_code_is_named_with_the_nearest_valid_one(
        live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--party", "org_department", "--target", live.target]
    assert main(["query", ADULT, "--purpose", "cadre_selectoin", *args]) == 2
    assert "unknown purpose 'cadre_selectoin' (did you mean cadre_selection?)" in one_line(
        capsys)
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--category",
                 "dishonest_detbor", *args]) == 2
    assert "did you mean dishonest_debtor?" in one_line(capsys)
    assert main(["check", "joint-punishment", ADULT, "--measure", "high_consumptoin",
                 "--party", "tax_bureau", "--target", live.target]) == 2
    assert "did you mean high_consumption?" in one_line(capsys)
    consent = ["consent", "issue", ADULT, "--category", "dishonest_debtor",
               "--target", live.target]
    assert main([*consent, "--grantee", "credit_agency", "--purpose",
                 "authorized_query"]) == 2
    assert "did you mean authorised_query?" in one_line(capsys)
    assert main([*consent, "--grantee", "credit_agncy", "--purpose",
                 "authorised_query"]) == 2
    assert "unknown grantee 'credit_agncy' (did you mean credit_agency" in one_line(capsys)


def test_missing_consent_says_how_to_present_one(live: LiveGateway,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-E-1")])
    assert main(["query", ADULT, "--purpose", "authorised_query", "--party", "credit_agency",
                 "--target", live.target]) == 1
    err = one_line(capsys)
    assert "credgate consent issue" in err and "--consent" in err


class ClosedPipe(io.StringIO):
    """Standard output whose reader has gone (`credgate ... | head`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_one_line(live: LiveGateway, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("CLI-E-2")])
    with monkeypatch.context() as patch:
        patch.setattr("sys.stdout", ClosedPipe())
        code = main(["audit", "query", "--target", live.target])
    assert code == 2
    assert "broken pipe" in one_line(capsys)


def test_an_unexpected_failure_is_one_line_unless_verbose(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr("gateway.cli.keys.run_init", broken)
    assert main(["keys", "init", "/nonexistent/x"]) == 2
    assert "run again with -v" in one_line(capsys)
    with pytest.raises(RuntimeError):
        main(["-v", "keys", "init", "/nonexistent/x"])
