"""A temporary SoftHSM2 token for the PKCS#11 tests (one per test session).

SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised in a process,
so the whole session shares one token directory; each test makes its own keys in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE_PATHS = ("/usr/lib/softhsm/libsofthsm2.so",
                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "4711-test-pin"
LABEL = "credgate-test"


@dataclass(frozen=True)
class SoftHsm:
    module: str
    label: str
    pin: str


def make_softhsm(directory: Path) -> SoftHsm:
    """Initialise a fresh token under directory; skips outside CI when SoftHSM2 is absent."""
    module = next((m for m in MODULE_PATHS if Path(m).exists()), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("SoftHSM2 is missing: .ci/apt-packages.txt lists softhsm2")
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
    # Always a configuration of our own in a temporary folder: never a real token's.
    (directory / "tokens").mkdir(parents=True, exist_ok=True)
    conf_path = directory / "softhsm2.conf"
    conf_path.write_text(f"directories.tokendir = {directory / 'tokens'}\n"
                         "objectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf_path)
    subprocess.run([util, "--init-token", "--free", "--label", LABEL, "--pin", PIN,
                    "--so-pin", "0000-so"], check=True, capture_output=True)
    return SoftHsm(module=module, label=LABEL, pin=PIN)
