"""The credgate.v1 protobuf messages and gRPC stubs, generated from proto/ at build time.

`make proto` (or building the package: see setup.py) writes them into gateway/_proto; an
installed gateway never runs the protobuf compiler.
"""

from __future__ import annotations

try:
    from gateway._proto.credgate.v1 import credgate_pb2 as pb
    from gateway._proto.credgate.v1 import credgate_pb2_grpc as rpc
except ModuleNotFoundError as exc:  # a source checkout used before `make proto`
    raise ImportError("the generated gRPC code is missing: run `make proto` in the "
                      "source checkout (or install the built package)") from exc

__all__ = ["pb", "rpc"]
