"""A loopback TCP relay that can stop relaying: a peer that is up but does not answer.

Between a gateway and its peer, it passes the bytes both ways (TLS stays end to end);
``stall()`` holds everything from then on, as a hung or overloaded peer would, so the
caller's own deadline is what ends its call. ``flow()`` lets the bytes through again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class StallProxy:
    """Relays 127.0.0.1:<port> to a target port until stalled."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="stall-proxy").start()

    def stall(self) -> None:
        """Hold every byte from now on (connections stay open)."""
        self._flowing.clear()

    def flow(self) -> None:
        """Relay again."""
        self._flowing.set()

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed.set()
        self._flowing.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                break
            while not self._flowing.wait(0.1):  # stalled: hold the bytes
                if self._closed.is_set():
                    return
            try:
                dst.sendall(data)
            except OSError:
                return
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
