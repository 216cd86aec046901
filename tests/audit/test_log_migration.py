"""Starting the shared log under a new origin: its first entry names the old final checkpoint."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.audit.checkpoint import sign_checkpoint
from gateway.audit.merkle import EMPTY_ROOT
from gateway.clock import FixedClock
from gateway.crypto.signatures import key_id
from gateway.errors import ConfigurationError
from tests.audit.tamper import LOG_KEY
from tests.live_gateway import start_live, stop_live
from tests.support import NOW

OLD = "credgate.example/audit-log"
NEW = "credgate.example/audit-log/2"


def test_the_first_entry_names_the_previous_log(tmp_path: Path) -> None:
    root = bytes(range(32))
    final = tmp_path / "old-final.checkpoint"
    final.write_text(sign_checkpoint(OLD, 77, root, NOW, LOG_KEY))
    live = start_live(tmp_path, FixedClock(NOW), audit_origin=NEW,
                      audit_previous_checkpoint=str(final))
    try:
        [(seq, entry)] = live.gw.audit.read(start=1, limit=10)
        assert seq == 1 and entry.action == "audit.log_started"
        named = f"{base64.b64encode(root).decode()} key {key_id(LOG_KEY.verify_key)}"
        assert entry.reason == f"continues {OLD} at size 77 root {named}"
        assert live.gw.audit_evidence.store.latest().size == 1  # signed at once
    finally:
        stop_live(live)
    # A restart does not name it again.
    live = start_live(tmp_path, FixedClock(NOW), audit_origin=NEW,
                      audit_previous_checkpoint=str(final))
    try:
        assert live.gw.audit.size() == 1
    finally:
        stop_live(live)


def test_a_previous_checkpoint_must_be_signed_and_of_another_origin(tmp_path: Path) -> None:
    bad = tmp_path / "bad.checkpoint"
    bad.write_text(sign_checkpoint(OLD, 1, EMPTY_ROOT, NOW, type(LOG_KEY).generate()))
    with pytest.raises(ConfigurationError):
        start_live(tmp_path / "a", FixedClock(NOW), audit_origin=NEW,
                   audit_previous_checkpoint=str(bad))
    same = tmp_path / "same.checkpoint"
    same.write_text(sign_checkpoint(NEW, 1, EMPTY_ROOT, NOW, LOG_KEY))
    with pytest.raises(ConfigurationError):
        start_live(tmp_path / "b", FixedClock(NOW), audit_origin=NEW,
                   audit_previous_checkpoint=str(same))
