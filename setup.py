"""Build hook: the gRPC code is generated from proto/ when the package is built.

Everything else about the package is in pyproject.toml. The generated modules ship in
the wheel, so an installed gateway needs neither grpcio-tools nor the .proto sources.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

_BUILD_SCRIPT = Path(__file__).resolve().parent / "gateway" / "_proto" / "build.py"


#: Folders of the checkout an installed gateway needs too: the default policies and the
#: development keys (gateway.config finds them in gateway/_defaults when not in a checkout).
_SHIPPED = ("policies", "keys_example")


class BuildPyWithProto(build_py):
    """Generate gateway/_proto from proto/ before the modules are collected, and ship the
    default policies and development keys as package data."""

    def run(self) -> None:
        spec = importlib.util.spec_from_file_location("_credgate_proto_build", _BUILD_SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.is_stale():
            module.build()
        super().run()
        root = Path(__file__).resolve().parent
        for name in _SHIPPED:
            if (root / name).is_dir():
                target = Path(self.build_lib) / "gateway" / "_defaults" / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(root / name, target,
                                ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithProto})
