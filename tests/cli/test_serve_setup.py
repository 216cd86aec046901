"""`credgate serve` refuses bad set-ups in one line (exit 2) before it opens anything,
and the gateway writes one access line per call without personal data."""

from __future__ import annotations

import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.cli.serve_setup import parse_listen
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, POLICIES


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def serve(tmp_path: Path, *extra: str, keys: Path = KEYS) -> list[str]:
    return ["serve", "--data-dir", str(tmp_path / "data"), "--keys", str(keys),
            "--policies", str(POLICIES), *extra]


@pytest.mark.parametrize("listen, wanted", [
    ("7443", "needs HOST:PORT"), (":7443", "needs HOST:PORT"), ("localhost", "needs HOST:PORT"),
    ("127.0.0.1:70000", "over 65535"), ("127.0.0.1:port", "needs HOST:PORT"),
])
def test_a_bad_listen_address_is_one_line(tmp_path: Path, listen: str, wanted: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(serve(tmp_path, "--listen", listen)) == 2
    err = capsys.readouterr().err
    assert wanted in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_ipv6_addresses_parse() -> None:
    assert parse_listen("[::1]:7443") == ("::1", 7443)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)


def test_a_port_in_use_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(serve(tmp_path, "--listen", f"127.0.0.1:{port}")) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and err.count("\n") == 1


@pytest.mark.parametrize("breakage, wanted", [
    ("missing", "cannot read the server certificate"),
    ("garbled", "is not a PEM certificate"),
    ("other key", "is not the key of"),
])
def test_an_unreadable_or_mismatched_server_certificate(
        tmp_path: Path, breakage: str, wanted: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    if breakage == "missing":
        (keys / "gateway.crt").unlink()
    elif breakage == "garbled":
        (keys / "gateway.crt").write_text("not a certificate\n", encoding="utf-8")
    else:
        shutil.copy(keys / "parties" / "court.key", keys / "gateway.key")
    assert main(serve(tmp_path, "--listen", "127.0.0.1:0", keys=keys)) == 2
    err = capsys.readouterr().err
    assert wanted in err and err.count("\n") == 1 and "Traceback" not in err


def test_one_access_line_per_call_without_personal_data(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("ACC-1")])
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--party", "org_department",
                 "--target", live.target]) == 0
    assert main(["query", ADULT, "--purpose", "authorised_query", "--party", "credit_agency",
                 "--target", live.target]) == 1
    # A purpose that is not a catalogue code is never written (it could be anything).
    assert main(["query", ADULT, "--purpose", ADULT, "--party", "org_department",
                 "--target", live.target]) == 2
    lines = [r.getMessage() for r in live.logs.records if r.name == "credgate.access"]
    assert len(lines) == 4
    submit, allowed, refused, invalid = lines
    assert "purpose=- decision=deny status=INVALID_ARGUMENT" in invalid
    assert "method=credgate.v1.RecordService/SubmitRecords party=court" in submit
    assert ("party=org_department purpose=cadre_selection decision=allow status=OK"
            in allowed)
    assert "party=credit_agency purpose=authorised_query decision=deny" in refused
    assert "status=PERMISSION_DENIED" in refused
    assert all("duration_ms=" in line and "trace=" in line for line in lines)
    assert not any(ADULT in line for line in lines)
