"""Servers the benchmarks run in their own processes: the gateway, a bare echo, a budget.

All listen on loopback with the same mTLS set-up (development keys, client
certificates required) so the comparison isolates what the gateway itself costs.
The "budget" server stands for a gateway whose request path costs exactly
``--work-us`` of CPU: it burns that much, appends a real durable audit entry
(group commit, like the gateway) and answers with a response of the gateway's size.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path

import grpc

from gateway.audit.entry import AuditEntry
from gateway.audit.log import SqliteAuditLog
from gateway.config import REPO_ROOT, Config
from gateway.server import server_credentials

ECHO_METHOD = "/bench.Echo/Echo"
BUDGET_METHOD = "/bench.Budget/Call"
BUDGET_RESPONSE_BYTES = 1190  # the QuerySubject answer of bench.query_throughput


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


def serve_budget(keys: Path, workers: int, work_us: float, data_dir: Path
                 ) -> tuple[grpc.Server, int, SqliteAuditLog]:
    """A handler of fixed CPU cost that waits for a durable audit append, like the gateway."""
    log = SqliteAuditLog(data_dir / "budget-audit.db")
    response = b"r" * BUDGET_RESPONSE_BYTES
    seconds = work_us / 1e6

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        end = time.thread_time() + seconds
        digest = request
        while time.thread_time() < end:  # CPU work under the GIL, as Python code does
            digest = hashlib.sha256(digest).digest()
        log.append(budget_entry())
        return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    handler = grpc.method_handlers_generic_handler(
        "bench.Budget",
        {"Call": grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=_identity, response_serializer=_identity)},
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(keys))
    server.start()
    return server, port, log


def budget_entry() -> AuditEntry:
    """An audit entry of the gateway's usual size."""
    return AuditEntry(
        time=datetime.now(UTC), trace_id="0" * 32, requester="org_department",
        action="query.subject", purpose="cadre_selection", subject_index="bi1:" + "x" * 64,
        categories=("dishonest_debtor",), fields_released=("dishonest_debtor.debtor_name",),
        consent_id="", policy_rule="p, org_department, dishonest_debtor, read, cadre_selection",
        policy_version="bench", decision="allow", reason="", request_id="req-bench",
        record_count=3, request_signature="v1 " + "s" * 150,
    )


def main(argv: list[str] | None = None) -> int:
    """Start one server, print its port on stdout, serve until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("gateway", "echo", "budget"))
    parser.add_argument("--work-us", type=float, default=0.0, help="budget: CPU per call")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--keys", type=Path, default=REPO_ROOT / "keys_example")
    parser.add_argument("--workers", type=int, default=Config.max_workers,
                        help="threads of the server (the echo too: the same pool)")
    args = parser.parse_args(argv)
    if args.kind == "echo":
        server, port = serve_echo(args.keys, args.workers)
        stop = lambda: server.stop(0.5).wait()  # noqa: E731
    elif args.kind == "budget":
        tmp = tempfile.TemporaryDirectory(prefix="credgate-budget-")
        server, port, log = serve_budget(args.keys, args.workers, args.work_us, Path(tmp.name))

        def stop() -> None:
            server.stop(0.5).wait()
            log.close()
            tmp.cleanup()
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
