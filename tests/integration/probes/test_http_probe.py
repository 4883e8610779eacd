"""The HTTP probe against real servers on 127.0.0.1: a plain-HTTP health endpoint probed with
each scheme, and a refused port. The reasons must be the same run after run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from probe_peers import free_port

from fleet.probes.base import run_probe
from fleet.probes.http import HttpProbe
from fleet.probes.types import HttpOptions, ProbeStatus, ProbeTarget

pytestmark = pytest.mark.anyio

Answer = Callable[[bytes], tuple[int, bytes]]


def _health(path: bytes) -> tuple[int, bytes]:
    if path == b"/status":
        return 200, json.dumps({"firmware": "4.1.2", "uptime": 99}).encode()
    if path == b"/busy":
        return 503, b"busy"
    return 404, b"not found"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 server, like a camera's: it reads the first line and answers, then
    reads what else the client sent and closes cleanly (anything not HTTP gets a 400)."""
    try:
        line = await reader.read(4096)
        parts = line.split(b" ")
        if len(parts) >= 3 and parts[0] == b"GET":
            code, body = _health(parts[1])
        else:
            code, body = 400, b"bad request"
        head = (
            f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await writer.drain()
        writer.write_eof()
        await asyncio.wait_for(reader.read(), 2)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def plain_http() -> AsyncIterator[int]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def probe() -> AsyncIterator[HttpProbe]:
    p = HttpProbe()
    try:
        yield p
    finally:
        await p.aclose()


def _target(port: int, **opts: object) -> ProbeTarget:
    return ProbeTarget(3, "127.0.0.1", ports={"http": port}, http=HttpOptions(**opts))  # type: ignore[arg-type]


async def test_plain_http_endpoint_is_ok_with_scheme_http(
    probe: HttpProbe, plain_http: int
) -> None:
    reading = await run_probe(probe, _target(plain_http, scheme="http", path="/status"), 3)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.firmware_version == "4.1.2"
    assert reading.http_status == 200


async def test_https_against_plain_http_gives_one_tls_reason(
    probe: HttpProbe, plain_http: int
) -> None:
    reasons = set()
    for _ in range(5):
        reading = await run_probe(probe, _target(plain_http, path="/status"), 3)
        assert reading.status is ProbeStatus.ERROR
        reasons.add(reading.reason)
    assert len(reasons) == 1, reasons
    (reason,) = reasons
    assert reason == "TLS handshake failed: wrong version number", reason


async def test_expected_status_mismatch_is_clear(probe: HttpProbe, plain_http: int) -> None:
    busy = await run_probe(
        probe, _target(plain_http, scheme="http", path="/busy", expected_status=200), 3
    )
    assert (busy.status, busy.reason) == (ProbeStatus.ERROR, "expected status 200, got 503")
    default = await run_probe(probe, _target(plain_http, scheme="http", path="/busy"), 3)
    assert default.reason == "expected a 2xx status, got 503"
    wanted = await run_probe(
        probe, _target(plain_http, scheme="http", path="/busy", expected_status=503), 3
    )
    assert wanted.status is ProbeStatus.OK, wanted.reason


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_refused_port_says_so_every_time(probe: HttpProbe, scheme: str) -> None:
    port = free_port()
    reasons = set()
    for _ in range(3):
        reading = await run_probe(probe, _target(port, scheme=scheme), 3)
        assert reading.status is ProbeStatus.REFUSED
        reasons.add(reading.reason)
    assert reasons == {"connection refused"}
