"""Servers the benchmarks run in their own processes: the gateway and a bare echo.

Both listen on loopback with the same mTLS set-up (development keys, client
certificates required) so the comparison isolates what the gateway itself costs.
"""

from __future__ import annotations

import argparse
import sys
from concurrent import futures
from pathlib import Path

import grpc

from gateway.config import REPO_ROOT, Config
from gateway.server import server_credentials

ECHO_METHOD = "/bench.Echo/Echo"


def _identity(data: bytes) -> bytes:
    return data


def serve_echo(keys: Path, workers: int) -> tuple[grpc.Server, int]:
    """A generic echo service: returns the request bytes unchanged."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                lambda request, context: request,
                request_deserializer=_identity,
                response_serializer=_identity,
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(keys))
    server.start()
    return server, port


def main(argv: list[str] | None = None) -> int:
    """Start one server, print its port on stdout, serve until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("gateway", "echo"))
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--keys", type=Path, default=REPO_ROOT / "keys_example")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    if args.kind == "echo":
        server, port = serve_echo(args.keys, args.workers)
        stop = lambda: server.stop(0.5).wait()  # noqa: E731
    else:
        from gateway.app import Gateway
        from gateway.server import start_server

        gw = Gateway.open(
            Config(data_dir=args.data_dir, keys_dir=args.keys, max_workers=args.workers)
        )
        running = start_server(gw, listen="127.0.0.1:0")
        port = running.port

        def stop() -> None:
            running.stop(0.5)
            gw.close()

    print(port, flush=True)
    sys.stdin.read()  # the parent closes our stdin to stop us
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
