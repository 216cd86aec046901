"""Generate the gRPC code for proto/credgate/v1 into gateway/_proto (run by `make proto`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_PROTO_DIR = _PACKAGE_DIR.parent.parent / "proto"
_OUT_DIR = _PACKAGE_DIR / "credgate" / "v1"
# protoc names imports after the .proto path; we ship the code inside our package.
_IMPORT_FIX = re.compile(r"^from credgate\.v1 import", re.MULTILINE)


def proto_files() -> list[Path]:
    """The .proto sources of the contract."""
    return sorted((_REPO_PROTO_DIR / "credgate" / "v1").glob("*.proto"))


def is_stale() -> bool:
    """True when generated code is missing or older than a .proto source."""
    sources = proto_files()
    if not sources:
        return False
    outputs = [_OUT_DIR / (p.stem + "_pb2.py") for p in sources]
    if not all(o.exists() for o in outputs):
        return True
    newest_source = max(p.stat().st_mtime for p in sources)
    return min(o.stat().st_mtime for o in outputs) < newest_source


def build() -> None:
    """Run grpc_tools.protoc over the contract and fix the generated imports."""
    from grpc_tools import protoc  # build-time dependency only

    sources = proto_files()
    if not sources:
        raise SystemExit(f"no .proto files under {_REPO_PROTO_DIR}")
    _OUT_DIR.mkdir(parents=True, exist_ok=True)
    for init in (_PACKAGE_DIR / "credgate" / "__init__.py", _OUT_DIR / "__init__.py"):
        init.touch()
    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "protoc",
        f"-I{_REPO_PROTO_DIR}",
        f"-I{include}",
        f"--python_out={_PACKAGE_DIR}",
        f"--pyi_out={_PACKAGE_DIR}",
        f"--grpc_python_out={_PACKAGE_DIR}",
        *[str(p.relative_to(_REPO_PROTO_DIR)) for p in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for generated in _OUT_DIR.glob("*.py*"):
        text = generated.read_text(encoding="utf-8")
        fixed = _IMPORT_FIX.sub("from gateway._proto.credgate.v1 import", text)
        if fixed != text:
            generated.write_text(fixed, encoding="utf-8")


if __name__ == "__main__":
    build()
    sys.exit(0)
