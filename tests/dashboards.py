"""Helpers for the dashboard tests: TCP peers that stand in for devices, a service on a real
socket (uvicorn in a thread), arranging sites into given states through real probes, and reading
a server-sent event stream."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from litestar import Litestar


class Peer:
    """A TCP listener on 127.0.0.1 standing in for a device's management interface. It accepts
    and closes every connection, so its accept queue never fills however long a test runs."""

    def __init__(self, *, up: bool = True) -> None:
        self.server: socket.socket | None = None
        self.port = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listen(socket.create_server(("127.0.0.1", 0)))
        if not up:
            self.cut()

    def _listen(self, server: socket.socket) -> None:
        server.settimeout(0.05)
        self.server = server
        self.port = int(server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(server, self._stop), daemon=True)
        self._thread.start()

    @staticmethod
    def _accept(server: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.close()

    def cut(self) -> None:
        if self.server is not None:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.server.close()
            self.server = None

    def restore(self) -> None:
        if self.server is None:
            self._listen(socket.create_server(("127.0.0.1", self.port), reuse_port=True))


def wait_for(check: Callable[[], bool], seconds: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@contextmanager
def running(app: Litestar) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1; yields the base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def etag(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def probe_over_tcp(client: httpx.Client, device_id: int, peer: Peer) -> None:
    """Make a device probed over TCP at ``peer`` (through the API, as an engineer would)."""
    url = f"/api/v1/devices/{device_id}"
    response = client.patch(
        url,
        json={"probes": ["tcp"], "management_address": "127.0.0.1", "probe_port": peer.port},
        headers={"If-Match": etag(client, url)},
    )
    assert response.status_code == 200, response.text


@dataclass
class Arranged:
    """Sites whose link-terminating devices answer through peers: per site, its links' peers
    by role."""

    peers: dict[str, dict[str, Peer]] = field(default_factory=dict)

    def cut(self, site: str) -> None:
        for peer in self.peers[site].values():
            peer.cut()

    def close(self) -> None:
        for by_role in self.peers.values():
            for peer in by_role.values():
                peer.cut()


def arrange(client: httpx.Client, wanted: dict[str, str]) -> Arranged:
    """Bring each site of ``wanted`` (code -> connected, degraded or disconnected) to that state
    through real probes: every active link's terminating device is probed over TCP, at a peer
    that answers or not (degraded: the primary link fails, a backup answers)."""
    arranged = Arranged()
    for code, state in wanted.items():
        status = client.get(f"/api/v1/sites/{code}/status").json()
        links = [link for link in status["links"] if link["lifecycle"] == "active"]
        assert links, f"{code} has no active link"
        roles = {link["role"] for link in links}
        if state == "degraded":
            assert {"primary", "backup"} <= roles, f"{code} needs a primary and a backup link"
        arranged.peers[code] = {}
        for link in links:
            up = state == "connected" or (state == "degraded" and link["role"] == "backup")
            peer = Peer(up=up)
            arranged.peers[code][link["role"]] = peer
            probe_over_tcp(client, link["terminating_device_id"], peer)
    return arranged


def links_known(client: httpx.Client, codes: Iterable[str]) -> bool:
    """Whether every active link of these sites has a known state: every terminating device
    has reported (a site is connected as soon as its primary link is up, before its backup
    link's device has reported)."""
    for code in codes:
        links = client.get(f"/api/v1/sites/{code}/status").json()["links"]
        if any(link["state"] == "unknown" for link in links if link["lifecycle"] == "active"):
            return False
    return True


def site_states(client: httpx.Client, **params: Any) -> dict[str, str]:
    items = client.get("/api/v1/status/sites", params={"limit": 500, **params}).json()["items"]
    return {s["code"]: s["state"] for s in items}


@dataclass
class Event:
    event: str
    id: int | None
    data: dict[str, Any]


def parse_events(text: str) -> list[Event]:
    """Server-sent events from a complete stream body (comments and retry lines skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data"):
                fields[name] = value
        if "event" in fields:
            events.append(
                Event(
                    fields["event"],
                    int(fields["id"]) if "id" in fields else None,
                    json.loads(fields.get("data", "null")),
                )
            )
    return events
