"""What the edge poller's end-to-end test drives: a TCP proxy standing for the site's uplink
(open, cut, or mute: requests go up, answers are lost), and a device's TCP port the test
turns on and off, both on 127.0.0.1."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from typing import Literal

Mode = Literal["open", "cut", "mute"]


class Uplink:
    """A TCP proxy to ``target`` port on 127.0.0.1. ``cut``: every connection is dropped and
    new ones are closed at once; ``mute``: what the client sends reaches the server, what the
    server answers is thrown away (a request stored, its answer lost)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.mode: Mode = "open"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: Mode) -> None:
        self.mode = mode
        if mode != "open":
            with self._lock:
                pairs, self._pairs = self._pairs, set()
            for pair in pairs:
                for sock in pair:
                    with contextlib.suppress(OSError):
                        sock.close()

    def close(self) -> None:
        self._closed = True
        self.set("cut")
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.add((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        server.sendall(data)
                    elif self.mode == "open":
                        client.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard((client, server))
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()


class Port:
    """A device's TCP port on 127.0.0.1 that accepts (up) or refuses (down) connections."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        if self._listener is not None:
            return
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener = self._listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
            self._listener = None

    @staticmethod
    def _accept(listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()
