"""Serving the console on the loopback interface only (uvicorn on a socket we bind)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from gateway.catalogue.registry import load_catalogue
from gateway.client import CredgateClient
from gateway.clock import Clock, SystemClock
from gateway.console.app import ConsoleContext, build_app
from gateway.console.backend import ConsoleBackend
from gateway.console.security import Gatekeeper
from gateway.crypto.signatures import key_id, load_verify_key, public_key_bytes
from gateway.errors import ConfigurationError

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (never another interface)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(64)
    return sock


@dataclass
class RunningConsole:
    """A console serving in a background thread (tests, the screenshot script)."""

    context: ConsoleContext
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @property
    def gate(self) -> Gatekeeper:
        """The console's token and sessions."""
        return self.context.gate

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://{LOOPBACK}:{self.gate.port}"

    def stop(self) -> None:
        """Stop serving and close the gateway channel."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        self.context.backend.close()


def make_context(client: CredgateClient, *, target: str, log_key: Path, state_dir: Path,
                 port: int, policies_dir: Path | None = None, clock: Clock | None = None,
                 token: str | None = None) -> ConsoleContext:
    """The console's context for one officer's client; raises ConfigurationError."""
    verify_key = load_verify_key(log_key)
    catalogue = None
    if policies_dir is not None:
        try:
            catalogue = load_catalogue(policies_dir)
        except ConfigurationError:
            catalogue = None  # names and roles are a convenience
    return ConsoleContext(
        backend=ConsoleBackend(client, target=target), gate=Gatekeeper(port=port, token=token),
        clock=clock or SystemClock(), log_key=public_key_bytes(verify_key),
        log_key_id=key_id(verify_key),
        state_dir=state_dir, catalogue=catalogue)


def _server(context: ConsoleContext) -> uvicorn.Server:
    config = uvicorn.Config(build_app(context), log_level="warning", access_log=False,
                            lifespan="off", server_header=False)
    return uvicorn.Server(config)


def serve_forever(context: ConsoleContext, sock: socket.socket) -> None:
    """Serve in this thread until interrupted."""
    _server(context).run(sockets=[sock])


def start_background(context: ConsoleContext, sock: socket.socket) -> RunningConsole:
    """Serve in a daemon thread; returns once the console answers."""
    server = _server(context)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="credgate-console")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return RunningConsole(context=context, server=server, thread=thread, sock=sock)
