"""Build hook: the gRPC code is generated from proto/ when the package is built.

Everything else about the package is in pyproject.toml. The generated modules ship in
the wheel, so an installed gateway needs neither grpcio-tools nor the .proto sources.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

_BUILD_SCRIPT = Path(__file__).resolve().parent / "gateway" / "_proto" / "build.py"


class BuildPyWithProto(build_py):
    """Generate gateway/_proto from proto/ before the modules are collected."""

    def run(self) -> None:
        spec = importlib.util.spec_from_file_location("_credgate_proto_build", _BUILD_SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.is_stale():
            module.build()
        super().run()


setup(cmdclass={"build_py": BuildPyWithProto})
