"""API latency with and without idle status-stream clients.

    .venv/bin/python bench/stream_idle_clients.py [--clients 200] [--requests 400]

Starts ``fleet serve --no-scheduler`` on a fresh SQLite file with the sample fleet (19 sites,
186 devices), then times ``GET /api/v1/status/sites?limit=50`` one request after another:

* with no stream client (the baseline),
* with ``--clients`` idle clients on ``GET /api/v1/status/stream`` (each a plain socket that
  reads whatever comes, as a browser's EventSource does),

in alternating rounds (``--rounds``, so that any drift falls on both). It prints the median and
95th percentile of each, their ratio, and the server's CPU time while the clients sit idle. It
exits non-zero when the median with the clients is more than 1.5 times the baseline. Only
127.0.0.1 is used; the server is stopped in ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from served import Server

LIMIT_RATIO = 1.5


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def timed(client: httpx.AsyncClient, requests: int) -> list[float]:
    """Milliseconds of each of ``requests`` sequential status-list requests."""
    found = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get("/api/v1/status/sites", params={"limit": 50})
        found.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return found


class IdleClient:
    """One stream client on a plain socket: subscribes, then reads and drops what comes."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.received = 0
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            (
                "GET /api/v1/status/stream HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        seen = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            self.received += len(chunk)
            if not self.ready.is_set():
                seen += chunk
                if b"event: hello" in seen:
                    self.ready.set()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


def summary(name: str, values: list[float]) -> tuple[float, float]:
    median = statistics.median(values)
    p95 = statistics.quantiles(values, n=20)[18]
    print(f"  {name:<32} median {median:6.2f} ms   p95 {p95:6.2f} ms   ({len(values)} requests)")
    return median, p95


async def with_idle_clients(
    server: Server, client: httpx.AsyncClient, clients: int, requests: int, idle_s: float
) -> list[float]:
    """Open ``clients`` idle stream clients, time the API, close them."""
    idle = [IdleClient(server.port, server.token) for _ in range(clients)]
    for c in idle:
        c.task = asyncio.create_task(c.run())
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(c.ready.wait() for c in idle))
        metrics = (await client.get("/metrics")).text
        connected = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("fleet_stream_clients ")
        )
        assert connected == clients, f"the server counts {connected:.0f} stream clients"
        if idle_s:
            cpu_before = cpu_seconds(server.process.pid)
            await asyncio.sleep(idle_s)
            cpu_idle = cpu_seconds(server.process.pid) - cpu_before
            print(
                f"  server CPU while {clients} clients sat idle {idle_s:.0f} s: "
                f"{cpu_idle * 1000:.0f} ms ({cpu_idle / idle_s * 100:.1f} % of a core)"
            )
        return await timed(client, requests)
    finally:
        for c in idle:
            c.close()
        await asyncio.gather(*(c.task for c in idle if c.task), return_exceptions=True)
        await asyncio.sleep(0.5)


async def measure(server: Server, clients: int, requests: int, rounds: int, idle_s: float) -> float:
    """Alternate rounds without and with the idle clients, so that drift falls on both."""
    headers = {"Authorization": f"Bearer {server.token}"}
    without: list[float] = []
    with_clients: list[float] = []
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as client:
        await timed(client, 100)  # warm up: connections, caches
        for number in range(rounds):
            without += await timed(client, requests)
            with_clients += await with_idle_clients(
                server, client, clients, requests, idle_s if number == 0 else 0
            )
    print(f"GET /api/v1/status/sites?limit=50, {rounds} rounds of {requests} requests in a row:")
    base_median, base_p95 = summary("0 stream clients", without)
    with_median, with_p95 = summary(f"{clients} idle stream clients", with_clients)
    ratio = with_median / base_median
    print(f"  ratio (median, {clients} clients / 0): {ratio:.2f}")
    print(f"  ratio (p95, {clients} clients / 0):    {with_p95 / base_p95:.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds to sit idle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("starting fleet serve with the sample fleet ...")
        server = Server(f"sqlite+aiosqlite:///{Path(folder) / 'fleet.db'}", Path(folder))
        try:
            ratio = asyncio.run(
                measure(server, args.clients, args.requests, args.rounds, args.idle)
            )
        finally:
            with contextlib.suppress(Exception):
                server.stop()
    if ratio > LIMIT_RATIO:
        raise SystemExit(f"{args.clients} idle stream clients slow the API by {ratio:.2f}x")


if __name__ == "__main__":
    main()
