"""The TCP connect probe against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from fleet.probes.base import run_probe
from fleet.probes.tcp import TcpProbe
from fleet.probes.types import ProbeStatus, ProbeTarget

pytestmark = pytest.mark.anyio


async def test_listening_port_is_ok() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        reading = await run_probe(TcpProbe(), ProbeTarget(1, "127.0.0.1", port), timeout=1)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.kind == "tcp"
    assert isinstance(reading.values["connect_ms"], float)


async def test_closed_port_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the kernel answers RST
        reading = await run_probe(TcpProbe(), ProbeTarget(1, "127.0.0.1", port), timeout=1)
    assert reading.status is ProbeStatus.REFUSED
