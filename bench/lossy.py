"""A TCP proxy on 127.0.0.1 that loses a share of the HTTP/1.1 requests it carries.

Each connection carries one request (the proxy asks the server to close after answering). A
connection is dropped with probability ``drop_rate``, in one of three ways, chosen evenly:

* ``before_request``: closed as soon as it is accepted; the server never sees the request,
* ``mid_body``: the head and half of the body go to the server, then both sides are closed,
* ``after_answer``: the whole request goes to the server, its whole answer is read, and the
  client's connection is reset without a byte of it.

``create_all`` sends creates through it, each with its own ``Idempotency-Key``, retrying each
until it gets a 201 (fresh or replayed); ``count_created`` counts the rows and change records
they left in the database. Used by ``bench/lossy_retries.py`` and
``tests/e2e/test_lossy_retries.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from fleet.database import Database

KINDS = ("before_request", "mid_body", "after_answer")
READ_TIMEOUT_S = 30.0


def _with_close(head: bytes) -> tuple[bytes, int]:
    """The request head with ``Connection: close`` (whatever the client asked), and its
    Content-Length (0 without one)."""
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    length = 0
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection":
            continue
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        kept.append(line)
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n", length


class LossyProxy:
    """``await proxy.start()`` gives the port; ``counts`` tells what happened to each
    connection (``passed`` or one of ``KINDS``)."""

    def __init__(self, upstream_port: int, drop_rate: float = 0.3, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.drop_rate = drop_rate
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _fate(self) -> str:
        if self.random.random() >= self.drop_rate:
            return "passed"
        return self.random.choice(KINDS)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fate = self._fate()
        try:
            if fate == "before_request":
                self.counts[fate] += 1
                return
            head, length = _with_close(await reader.readuntil(b"\r\n\r\n"))
            body = await reader.readexactly(length)
            await self._relay(fate, head, body, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, TimeoutError):
            self.counts["client_gone"] += 1
        finally:
            if fate in ("before_request", "after_answer"):
                writer.transport.abort()
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _relay(
        self, fate: str, head: bytes, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            if fate == "mid_body":
                up_writer.write(head + body[: len(body) // 2])
                await up_writer.drain()
                await asyncio.sleep(0.05)  # the server reads the part that came
                self.counts[fate] += 1
                return
            up_writer.write(head + body)
            await up_writer.drain()
            answer = await asyncio.wait_for(up_reader.read(), READ_TIMEOUT_S)
            self.counts[fate] += 1
            if fate == "passed":
                writer.write(answer)
                await writer.drain()
        finally:
            up_writer.close()
            with contextlib.suppress(OSError):
                await up_writer.wait_closed()


@dataclass
class Tally:
    """What the client saw: every try, the 201s fresh and replayed, the other answers."""

    tries: int = 0
    fresh: int = 0
    replayed: int = 0
    transport_errors: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0


def site_bodies(prefix: str, count: int) -> list[dict[str, Any]]:
    """``count`` new sites whose codes start with ``prefix`` (a site code's first part)."""
    return [
        {
            "code": f"{prefix}-{i:05d}",
            "name": f"Lossy link post {i}",
            "kind": "border_crossing_land",
            "country": "NE",
            "latitude": 13.0,
            "longitude": 2.0,
        }
        for i in range(count)
    ]


async def _create_one(
    client: httpx.AsyncClient, body: dict[str, Any], tally: Tally, max_tries: int
) -> None:
    headers = {"Idempotency-Key": uuid.uuid4().hex, "Connection": "close"}
    for _ in range(max_tries):
        tally.tries += 1
        try:
            answer = await client.post("/api/v1/sites", json=body, headers=headers)
        except httpx.TransportError:
            tally.transport_errors += 1
            continue
        tally.answers[answer.status_code] += 1
        if answer.status_code == 201:
            if answer.headers.get("idempotent-replayed") == "true":
                tally.replayed += 1
            else:
                tally.fresh += 1
            return
        if answer.status_code in (409, 503):  # the first try still runs; the database is busy
            await asyncio.sleep(float(answer.headers.get("Retry-After", "0.2")))
            continue
        break  # any other answer will not change by retrying: the create is lost
    tally.lost.append(body["code"])


async def create_all(
    base: str,
    token: str,
    bodies: list[dict[str, Any]],
    *,
    concurrency: int = 8,
    max_tries: int = 50,
) -> Tally:
    """POST every body to ``/api/v1/sites`` through ``base``, ``concurrency`` at a time, each
    with its own Idempotency-Key and a new connection a try, until each gets a 201."""
    tally = Tally()
    queue = list(reversed(bodies))
    started = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        timeout=READ_TIMEOUT_S,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:

        async def worker() -> None:
            while queue:
                await _create_one(client, queue.pop(), tally, max_tries)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.seconds = time.perf_counter() - started
    return tally


@dataclass(frozen=True)
class Created:
    rows: int
    change_records: int
    sites_with_one_record: int


async def count_created(url: str, prefix: str) -> Created:
    """The sites whose code starts with ``prefix``, their create records, and how many of
    those sites have exactly one."""
    db = Database(url)
    like = f"{prefix}-%"
    try:
        async with db.session() as session:
            rows = await session.scalar(
                sa.text("SELECT count(*) FROM site WHERE code LIKE :like"), {"like": like}
            )
            per_site = (
                await session.execute(
                    sa.text(
                        "SELECT object_key, count(*) FROM change_record WHERE object_type = "
                        "'site' AND action = 'create' AND object_key LIKE :like "
                        "GROUP BY object_key"
                    ),
                    {"like": like},
                )
            ).all()
    finally:
        await db.dispose()
    return Created(
        int(rows or 0), sum(n for _, n in per_site), sum(1 for _, n in per_site if n == 1)
    )
