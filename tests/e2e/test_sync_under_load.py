"""API reads and writes while ``fleet sync --apply`` of 2,000 sites runs on the same SQLite
file: every answer is a success or a 503 with Retry-After, never another 5xx. The service waits
0.5 s for the sync's write lock (FLEET_SQLITE_BUSY_TIMEOUT_S), so that its writers do run out of
time while the sync applies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e
SITES = 2000
READERS = 200
WRITERS = 20
READ_PAUSE_S = 0.2  # each reader's pause between reads (as a busy board refreshing)
MOST_SECONDS = 40


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"FLEET_SQLITE_BUSY_TIMEOUT_S": "0.5"}


def write_sites(folder: Path, count: int) -> None:
    """A site_configs folder of ``count`` new sites."""
    (folder / "sites").mkdir(parents=True)
    for name in ("countries.yaml", "device_models.yaml"):
        shutil.copy(ROOT / "site_configs" / name, folder / name)
    for i in range(count):
        code = f"NE-SYN-{i:04d}"
        (folder / "sites" / f"{code}.yaml").write_text(
            f"code: {code}\nname: Synced post {i}\nkind: border_crossing_land\ncountry: NE\n"
            "latitude: 13.0\nlongitude: 2.0\n",
            encoding="utf-8",
        )


@dataclass
class Seen:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"read": [], "write": []})
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    def record(self, kind: str, started: float, answer: httpx.Response) -> None:
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[kind, answer.status_code] += 1
        busy = answer.status_code == 503 and int(answer.headers.get("Retry-After", "0")) > 0
        if answer.status_code >= 500 and not busy:
            self.bad.append(f"{kind} {answer.status_code}: {answer.text[:200]}")


async def _reader(client: httpx.AsyncClient, seen: Seen, done: asyncio.Event) -> None:
    while not done.is_set():
        started = time.perf_counter()
        try:
            answer = await client.get("/api/v1/sites", params={"limit": 20})
        except httpx.TransportError as exc:
            seen.transport_errors.append(f"read: {exc!r}")
            continue
        seen.record("read", started, answer)
        await asyncio.sleep(READ_PAUSE_S)


async def _writer(client: httpx.AsyncClient, seen: Seen, done: asyncio.Event, n: int) -> None:
    i = 0
    while not done.is_set():
        i += 1
        body = {
            "code": f"NE-W{n:02d}-{i:04d}",
            "name": "Written during a sync",
            "kind": "border_crossing_land",
            "country": "NE",
            "latitude": 13.0,
            "longitude": 2.0,
        }
        started = time.perf_counter()
        try:
            answer = await client.post("/api/v1/sites", json=body)
        except httpx.TransportError as exc:
            seen.transport_errors.append(f"write: {exc!r}")
            continue
        seen.record("write", started, answer)
        if answer.status_code == 503:
            await asyncio.sleep(float(answer.headers["Retry-After"]))


async def _load(served: Served, sync: subprocess.Popen[str]) -> Seen:
    seen = Seen()
    done = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=served.base,
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=MOST_SECONDS,
        limits=httpx.Limits(max_connections=READERS + WRITERS),
    ) as client:
        tasks = [asyncio.create_task(_reader(client, seen, done)) for _ in range(READERS)]
        tasks += [asyncio.create_task(_writer(client, seen, done, n)) for n in range(WRITERS)]
        # the sync is a child process: wait for its end in a thread, at most MOST_SECONDS
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(sync.wait, MOST_SECONDS)
        done.set()
        await asyncio.gather(*tasks)
    return seen


def _percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return ", ".join(f"p{p} {cuts[p - 1] * 1000:.0f} ms" for p in (50, 95, 99))


def test_no_server_error_while_a_long_sync_applies(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    write_sites(folder, SITES)
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
        "FLEET_LOG_FORMAT": "json",
    }
    started = time.monotonic()
    sync = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "sync", str(folder), "--apply"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = asyncio.run(_load(served, sync))
        output, _ = sync.communicate(timeout=60)
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait()
    took = time.monotonic() - started
    for kind, values in seen.latencies.items():
        print(f"{kind}s: {len(values)}, {_percentiles(values)}")
    print(f"sync: {took:.1f} s; answers: {dict(seen.statuses)}")
    print(f"connections lost without an answer: {len(seen.transport_errors)}")
    assert sync.returncode == 0, output
    assert "Applied." in output
    assert seen.bad == [], "".join(served.output[-20:])
    assert seen.statuses["write", 201] > 0
    assert seen.statuses["write", 503] > 0  # the lock outlasted a writer's wait
    # a read writes only the token's last use, which gives way to the sync's lock
    assert {status for kind, status in seen.statuses if kind == "read"} == {200}
    assert sum(n for (kind, _), n in seen.statuses.items() if kind == "read") > READERS
