"""The built package carries its generated gRPC code and runs without the compiler."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support import REPO

GENERATED = "gateway/_proto/credgate/v1/"


def _source_copy(dest: Path) -> Path:
    """The sources a release is built from, without any generated code."""
    src = dest / "src"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        src.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    for folder in ("proto", "policies", "keys_example"):
        shutil.copytree(REPO / folder, src / folder)
    shutil.copytree(REPO / "gateway", src / "gateway", ignore=shutil.ignore_patterns(
        "__pycache__", "credgate"))  # gateway/_proto/credgate is what the build makes
    assert not (src / "gateway" / "_proto" / "credgate").exists()
    return src


def test_wheel_ships_generated_code_and_needs_no_compiler(tmp_path: Path) -> None:
    src = _source_copy(tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("credgate-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith("/METADATA"))
    assert {GENERATED + "credgate_pb2.py", GENERATED + "credgate_pb2_grpc.py"} <= names
    runtime = [line for line in metadata.splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not any("grpcio-tools" in line for line in runtime)

    # Installed elsewhere, the package imports its stubs with the compiler out of reach.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import sys; sys.modules['grpc_tools'] = None; "
             f"sys.path.insert(0, {str(target)!r}); "
             "import gateway.api as api; "
             "assert api.__file__.startswith(sys.path[0]), api.__file__; "
             "print(api.pb.QuerySubjectRequest(purpose='awards').purpose)")
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "awards"

    # From any directory, the commands find the default policies and development keys
    # shipped inside the package (`pip install .`, not only the editable install).
    assert {"gateway/_defaults/policies/catalogue.toml",
            "gateway/_defaults/keys_example/ca.crt",
            "gateway/_defaults/keys_example/DEVELOPMENT-ONLY-DO-NOT-USE-IN-PRODUCTION"} <= names
    probe = (f"import sys; sys.path.insert(0, {str(target)!r}); "
             "from gateway.config import Config; from gateway.cli import main; "
             "c = Config(); "
             "assert str(c.policies_dir).startswith(sys.path[0]), c.policies_dir; "
             "assert (c.keys_dir / 'parties' / 'court.crt').is_file(), c.keys_dir; "
             "sys.exit(main(['policy', 'validate']))")
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
