"""A simulated fleet of ten devices, shared by the directory's tests (started once, ~4 s)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from fleet.demo import SimulatedFleet

from .sample_fleet import CAMERA, WORKSTATION, Running, free_port, sample_devices


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    sim = SimulatedFleet(
        sample_devices(),
        controllable={CAMERA, WORKSTATION},
        snmp_port=free_port(socket.SOCK_DGRAM),
        ssh_port=free_port(socket.SOCK_STREAM),
        start_timeout=30,
    )
    t0 = time.monotonic()
    asyncio.run(sim.start())
    try:
        yield Running(sim, time.time(), time.monotonic() - t0)
    finally:
        sim.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
