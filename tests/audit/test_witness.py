"""Regulators' mirrors cosign the checkpoints they verified (C2SP cosignature/v1)."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway.audit.checkpoint import CheckpointError, parse_checkpoint, sign_checkpoint
from gateway.audit.mirror import COSIGNED, Mirror, MirrorRefused
from gateway.audit.witness import Witness, combine, cosign, cosigned_message, verify_cosignatures
from gateway.cli import main
from tests.audit.shared_support import make_backend, open_log
from tests.audit.tamper import LOG_PUB, make_entry
from tests.audit.test_mirror import _fetchers
from tests.audit.test_mirror import clock as clock  # the CLI signs with the real time
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record

W1 = Witness("regulator.example/w1", SigningKey(bytes(range(32))))
W2 = Witness("regulator.example/w2", SigningKey(bytes(range(1, 33))))
LOG_KEY = SigningKey(bytes(range(2, 34)))
ORIGIN = "credgate.example/audit-log"
T = 1_733_350_000


def checkpoint(size: int = 7, root: bytes = b"\x11" * 32) -> str:
    """A checkpoint signed by the log key."""
    return sign_checkpoint(ORIGIN, size, root, None, LOG_KEY)


def test_the_signed_message_and_line_follow_c2sp() -> None:
    note = checkpoint()
    body = parse_checkpoint(note).body
    assert cosigned_message(body, T) == f"cosignature/v1\ntime {T}\n{body}".encode()
    cosigned = cosign(parse_checkpoint(note), W1, T)
    line = cosigned.splitlines()[-1]
    dash, name, blob = line.split(" ")
    raw = base64.b64decode(blob)
    # Key ID: SHA-256(name || 0x0A || 0x04 || public key)[:4]; then the big-endian time.
    key_id = hashlib.sha256(W1.name.encode() + b"\n\x04" + bytes(W1.key.verify_key))
    assert (dash, name, raw[:4], raw[4:12]) == ("\u2014", W1.name, key_id.digest()[:4],
                                                struct.pack(">Q", T))
    W1.key.verify_key.verify(cosigned_message(body, T), raw[12:])
    # The log's own signature line is kept in front.
    assert cosigned.startswith(note)


def test_a_quorum_of_witnesses_is_counted_and_others_ignored() -> None:
    cp = parse_checkpoint(checkpoint())
    both = combine([cosign(cp, W1, T), cosign(cp, W2, T + 5)])
    keys = {W1.name: W1.key.verify_key, W2.name: W2.key.verify_key}
    assert verify_cosignatures(both, keys, 2) == {W1.name: T, W2.name: T + 5}
    only_one = cosign(cp, W1, T)
    assert verify_cosignatures(only_one, keys, 1) == {W1.name: T}
    with pytest.raises(CheckpointError) as info:
        verify_cosignatures(only_one, keys, 2)
    assert info.value.reason == "no_quorum"
    # A third party's cosignature (a key nobody configured) counts for nothing.
    stranger = Witness("regulator.example/w1", SigningKey(bytes(range(3, 35))))
    with pytest.raises(CheckpointError):
        verify_cosignatures(cosign(cp, stranger, T), keys, 1)
    with pytest.raises(CheckpointError):
        verify_cosignatures(only_one, keys, 3)  # a quorum above the witnesses configured


def test_a_witness_recosigning_replaces_its_own_line() -> None:
    cp = parse_checkpoint(cosign(parse_checkpoint(checkpoint()), W1, T))
    again = cosign(cp, W1, T + 60)
    assert again.count(W1.name) == 1
    assert verify_cosignatures(again, {W1.name: W1.key.verify_key}, 1) == {W1.name: T + 60}


def test_combining_notes_of_different_checkpoints_is_refused() -> None:
    a = cosign(parse_checkpoint(checkpoint(7)), W1, T)
    b = cosign(parse_checkpoint(checkpoint(8)), W2, T)
    with pytest.raises(CheckpointError):
        combine([a, b])


@given(st.data())
def test_any_change_to_a_cosigned_checkpoint_breaks_its_cosignature(data: st.DataObject) -> None:
    cp = parse_checkpoint(checkpoint())
    note = cosign(cp, W1, T)
    keys = {W1.name: W1.key.verify_key}
    line = note.splitlines()[-1]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    where = data.draw(st.sampled_from(["time", "signature", "body"]))
    if where == "body":
        size = data.draw(st.integers(0, 2**40).filter(lambda n: n != 7))
        forged = note.replace("\n7\n", f"\n{size}\n", 1)
    else:
        index = data.draw(st.integers(4, 11) if where == "time" else st.integers(12, 75))
        raw[index] ^= data.draw(st.integers(1, 255))
        forged = note.replace(line, f"\u2014 {W1.name} {base64.b64encode(raw).decode()}")
    with pytest.raises(CheckpointError):
        verify_cosignatures(forged, keys, 1, latest=2**62)


def test_a_cosignature_from_the_future_is_refused() -> None:
    note = cosign(parse_checkpoint(checkpoint()), W1, T + 3600)
    with pytest.raises(CheckpointError) as info:
        verify_cosignatures(note, {W1.name: W1.key.verify_key}, 1, latest=T)
    assert "future" in info.value.message


def test_the_mirror_cosigns_only_what_it_verified(tmp_path: Path) -> None:
    mirror = Mirror(tmp_path / "mirror", LOG_PUB, witness=W1, clock=lambda: T)
    cosigned = tmp_path / "mirror" / COSIGNED
    with open_log(make_backend("sqlite", tmp_path / "a"), tmp_path / "ia") as (log, ev):
        log.append_many(make_entry(i) for i in range(40))
        ev.checkpointer.checkpoint_now()
        mirror.update(*_fetchers(log, ev))
    first = cosigned.read_text()
    assert parse_checkpoint(first).size == 40
    assert verify_cosignatures(first, {W1.name: W1.key.verify_key}, 1) == {W1.name: T}
    # A forked log under the same key: refused, and nothing new is cosigned.
    with open_log(make_backend("sqlite", tmp_path / "b"), tmp_path / "ib") as (log, ev):
        log.append_many(make_entry(i, reason="other") for i in range(60))
        ev.checkpointer.checkpoint_now()
        with pytest.raises(MirrorRefused):
            mirror.update(*_fetchers(log, ev))
    assert cosigned.read_text() == first


def test_two_regulators_cosign_and_a_department_verifies_the_quorum(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("WIT-1")])
    copies = []
    for n in (1, 2):
        folder = tmp_path / f"mirror{n}"
        assert main(["audit", "mirror", str(folder), "--target", live.target,
                     "--witness-key", str(tmp_path / f"w{n}.key"),
                     "--witness-name", f"regulator.example/w{n}"]) == 0
        assert (tmp_path / f"w{n}.key.pub").exists()
        copies.append(str(folder / COSIGNED))
    capsys.readouterr()
    verify = ["audit", "verify-cosigned", *copies,
              "--log-key", str(live.gw.config.keys_dir / "gateway.log.pub"),
              "--witness", f"regulator.example/w1={tmp_path / 'w1.key.pub'}",
              "--witness", f"regulator.example/w2={tmp_path / 'w2.key.pub'}"]
    assert main([*verify, "--quorum", "2"]) == 0
    assert "cosigned by regulator.example/w1, regulator.example/w2" in capsys.readouterr().out
    # One copy alone falls short of a quorum of two.
    assert main(["audit", "verify-cosigned", copies[0], *verify[4:], "--quorum", "2"]) == 1
    assert "REFUSED" in capsys.readouterr().out
