"""The credgate.v1 protobuf messages and gRPC stubs, generated from proto/ on first use."""

from __future__ import annotations

from gateway._proto import build as _build

if _build.is_stale():  # a fresh clone run without `make proto`
    _build.build()

from gateway._proto.credgate.v1 import credgate_pb2 as pb
from gateway._proto.credgate.v1 import credgate_pb2_grpc as rpc

__all__ = ["pb", "rpc"]
