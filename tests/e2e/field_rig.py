"""What the field app's browser test and benchmark stand on: ``fleet serve`` on a SQLite file
with the sample fleet (no probes), the lossy proxy of ``bench.lossy`` in a thread of its own,
work orders made ready for an engineer, a big photo, and reads of the app's IndexedDB."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.lossy import LossyProxy
from tests.conftest import ROOT
from tests.e2e.conftest import _free_port
from tests.e2e.processes import start, token_of, wait_healthy

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: 32 kbit/s each way and 2 s of latency, as CDP's Network.emulateNetworkConditions takes them.
SLOW_LINK = {
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 4000,
    "uploadThroughput": 4000,
}
#: The app's outbox, read from its IndexedDB (what each entry is and where it stands).
OUTBOX_JS = """() => new Promise((resolve, reject) => {
  const opened = indexedDB.open("fleet-field");
  opened.onerror = () => reject(opened.error);
  opened.onsuccess = () => {
    const all = opened.result.transaction("outbox").objectStore("outbox").getAll();
    all.onsuccess = () => resolve(all.result.map((e) => ({
      seq: e.seq, id: e.id, kind: e.kind, state: e.state, label: e.label,
      object: e.change ? e.change.object : null, key: e.change ? e.change.key : null,
      op: e.change ? e.change.op : null, width: e.width || null, height: e.height || null,
      size: e.blob ? e.blob.size : null, type: e.blob ? e.blob.type : null,
    })));
  };
})"""


@dataclass
class Fleet:
    base: str
    token: str
    database_url: str
    process: subprocess.Popen[str]
    output: list[str]

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read straight from the served database."""
        return list(asyncio.run(self._query(sql, params)))

    async def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        engine = create_async_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(sa.text(sql), params)
                return [tuple(row) for row in result]
        finally:
            await engine.dispose()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def fleet_serve(folder: Path, database_url: str | None = None) -> Iterator[Fleet]:
    """``fleet serve`` with the sample fleet, no probes, on ``database_url`` (an empty
    database) or a new SQLite file in ``folder``."""
    port = _free_port()
    database_url = database_url or f"sqlite+aiosqlite:///{folder / 'fleet.db'}"
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": database_url,
        "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
        "FLEET_SCHEDULER": "false",
        "FLEET_LOG_FORMAT": "json",
        "FLEET_LOG_LEVEL": "WARNING",
    }
    process, output = start(
        [sys.executable, "-m", "fleet.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        folder,
        env,
    )
    served = Fleet(f"http://127.0.0.1:{port}", "", database_url, process, output)
    try:
        wait_healthy(served.base, process, output)
        served.token = token_of(output, time.monotonic() + 10)
        yield served
    finally:
        served.stop()


class ProxyThread:
    """``bench.lossy.LossyProxy`` on an event loop in a thread; ``drop_rate`` can change while
    it runs (0 while priming, 0.3 for the sync)."""

    def __init__(self, upstream_port: int, drop_rate: float = 0.0, seed: int = 7) -> None:
        self.proxy = LossyProxy(upstream_port, drop_rate, seed)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)

    @property
    def drop_rate(self) -> float:
        return self.proxy.drop_rate

    @drop_rate.setter
    def drop_rate(self, value: float) -> None:
        self.proxy.drop_rate = value

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def ready_orders(api: httpx.Client, sites: list[str], assignee: str, count: int) -> list[int]:
    """Assess ``sites`` and make ``count`` of their work orders ready for ``assignee``: assigned
    and moved by the planner to scheduled (the engineer moves them on from there)."""
    for site in sites:
        assert api.post("/api/v1/assessments", json={"site": site}).status_code == 200
    orders = api.get(
        "/api/v1/work-orders", params={"site": ",".join(sites), "state": "proposed", "limit": 100}
    ).json()["items"]
    assert len(orders) >= count, orders
    chosen = [o["id"] for o in orders[:count]]
    for order_id in chosen:
        url = f"/api/v1/work-orders/{order_id}"
        tag = api.get(url).headers["etag"]
        answer = api.patch(url, json={"assignee": assignee}, headers={"If-Match": tag})
        assert answer.status_code == 200, answer.text
        for to in ("approved", "scheduled"):
            answer = api.post(
                f"{url}/transitions", json={"to": to}, headers={"If-Match": answer.headers["etag"]}
            )
            assert answer.status_code == 200, answer.text
    return chosen


def big_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12 Mpx PNG (a gradient, so that it stays small on disk and quick to make)."""
    row = b"\x00" + bytes(
        (x * 255 // width) if c != 2 else 128 for x in range(width) for c in range(3)
    )
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def outbox(page: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate(OUTBOX_JS)
    return sorted(entries, key=lambda e: e["seq"])


@contextmanager
def empty_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server (dropped afterwards), or a skip
    (a failure under CI=true) when the server is not there."""
    import pytest

    from tests.conftest import PG_URL, _execute, run

    try:
        run(_execute(PG_URL, "SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"fleet_field_{uuid.uuid4().hex[:10]}"
    run(_execute(PG_URL, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run(_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True))
