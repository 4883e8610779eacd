"""The state events as a source to listen to: one poller task per process reads the new rows
of ``state_event`` (whose ids only grow) and fans each event out, encoded once as a server-sent
event, to a bounded queue per client. A client whose queue is full is dropped, never buffered
without end: it comes back from an id and is replayed from the database. The poller runs only
while someone listens, whatever the number of listeners.

Reading the database rather than the status engine means the events reach every process,
whichever runs the probes (``fleet serve`` or ``fleet worker``). State events have a single
writer (the status engine, which flushes under a lock), so their ids become visible in order and
reading ``id > last`` misses none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlmodel import col

from fleet.database import Database
from fleet.inventory.models import Site
from fleet.logging import get_logger
from fleet.metrics import STREAM_CLIENTS, STREAM_DROPPED, STREAM_EVENTS
from fleet.probes.models import ObjectStatus, StateEvent, status_of
from fleet.probes.rules import UNKNOWN
from fleet.settings import Settings

log = get_logger("fleet.stream")
SiteStatus = sa.orm.aliased(ObjectStatus, name="site_status")


class StreamFull(Exception):
    """The process already serves as many listeners as it may."""

    def __init__(self, max_clients: int) -> None:
        super().__init__(f"this process already serves {max_clients} stream clients; retry later")


@dataclass(frozen=True, slots=True)
class Message:
    """One state event, encoded as a server-sent event once for every client."""

    id: int
    country: str
    frame: bytes


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[Message]
    scope: frozenset[str] | None
    countries: frozenset[str] | None
    dropped: bool = False
    left: bool = False

    def wants(self, country: str) -> bool:
        return (self.scope is None or country in self.scope) and (
            self.countries is None or country in self.countries
        )


def frame(event: str, payload: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + msgspec.json.encode(payload) + b"\n\n"


#: A state event's columns as the API and the stream show them (and ``country``, its code).
EVENT_FIELDS = (
    "id",
    "at",
    "object_type",
    "object_id",
    "object_key",
    "site_id",
    "old_state",
    "new_state",
    "cause",
)


def event_fields(event: StateEvent) -> dict[str, Any]:
    """A state event as the API and the stream show it."""
    return {name: getattr(event, name) for name in EVENT_FIELDS} | {"country": event.country_code}


def _event_payload(event: StateEvent, site: dict[str, Any] | None) -> dict[str, Any]:
    return {**event_fields(event), "site": site}


async def _read(
    db: Database, statement: Any, limit: int
) -> tuple[list[StateEvent], dict[int, dict[str, Any]]]:
    """Events in id order, and the current headline of each site they concern."""
    async with db.session() as session:
        events = list(await session.scalars(statement.order_by(col(StateEvent.id)).limit(limit)))
        site_ids = sorted({e.site_id for e in events})
        headlines: dict[int, dict[str, Any]] = {}
        if site_ids:
            rows: Any = await session.execute(
                sa.select(col(Site.id), col(Site.code), col(Site.name), SiteStatus)
                .outerjoin(
                    SiteStatus,
                    status_of("site", col(Site.id), SiteStatus),
                )
                .where(col(Site.id).in_(site_ids))
            )
            for site_id, code, name, status in rows:
                detail = status.detail if status is not None else {}
                headlines[site_id] = {
                    "code": code,
                    "name": name,
                    "state": status.state if status is not None else UNKNOWN,
                    "since": status.since if status is not None else None,
                    "reason": status.reason if status is not None else None,
                    "link_in_use": detail.get("link_in_use"),
                    "devices": detail.get("devices", {}),
                }
    return events, headlines


def _messages(events: Iterable[StateEvent], headlines: dict[int, dict[str, Any]]) -> list[Message]:
    return [
        Message(
            id=e.id or 0,
            country=e.country_code,
            frame=frame("state", _event_payload(e, headlines.get(e.site_id)), e.id),
        )
        for e in events
    ]


async def latest_event_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(sa.select(sa.func.max(col(StateEvent.id)))) or 0)


@dataclass(eq=False)
class StreamHub:
    """The process's one poller of state events and its clients."""

    db: Database
    interval_s: float = 0.5
    buffer: int = 256
    max_clients: int = 1000
    clients: set[Client] = field(default_factory=set)
    last_id: int = 0
    connected: int = 0
    _task: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _poll_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> StreamHub:
        return cls(
            db,
            interval_s=settings.stream_poll_interval_s,
            buffer=settings.stream_client_buffer,
            max_clients=settings.stream_max_clients,
        )

    @property
    def batch(self) -> int:
        """Events read per query: never more than a client's buffer, so that a client that
        keeps up is never dropped by one burst."""
        return max(1, min(500, self.buffer // 2))

    async def join(
        self, scope: frozenset[str] | None, countries: frozenset[str] | None
    ) -> tuple[Client, int]:
        """A new client, and the id of the last event fanned out before it joined: the client
        gets every later event through its queue."""
        if self.connected >= self.max_clients:
            raise StreamFull(self.max_clients)
        async with self._lock:
            if self._task is None:
                self.last_id = await latest_event_id(self.db)
                self._task = asyncio.create_task(self._run(), name="fleet-stream-poller")
            client = Client(asyncio.Queue(self.buffer), scope, countries)
            self.clients.add(client)
            self.connected += 1
            STREAM_CLIENTS.inc()
            return client, self.last_id

    def leave(self, client: Client) -> None:
        """Idempotent: from the client's stream when it ends, or its finalizer."""
        if client.left:
            return
        client.left = True
        self.clients.discard(client)
        self.connected -= 1
        STREAM_CLIENTS.dec()

    def _drop(self, client: Client) -> None:
        client.dropped = True
        self.clients.discard(client)
        STREAM_DROPPED.inc()
        log.info("stream_client_dropped", buffer=self.buffer)

    async def _run(self) -> None:
        failures = 0
        try:
            while self.clients:
                try:
                    for _ in range(100):  # a backlog: batch after batch, a turn apart
                        if await self.poll() < self.batch:
                            break
                        await asyncio.sleep(0)  # let clients drain before the next batch
                    failures = 0
                except Exception:  # the database may be away for a while: retry, never die
                    failures += 1
                    log.warning("stream_poll_failed", failures=failures, exc_info=True)
                await asyncio.sleep(self.interval_s * min(1 + failures, 20))
        finally:
            self._task = None

    async def poll(self) -> int:
        """Read the events after the last one and hand them to every client that wants them."""
        async with self._poll_lock:
            events, headlines = await _read(
                self.db, sa.select(StateEvent).where(col(StateEvent.id) > self.last_id), self.batch
            )
            self._deliver(_messages(events, headlines))
        STREAM_EVENTS.inc(len(events))
        return len(events)

    def _deliver(self, messages: list[Message]) -> None:
        # Not a coroutine: delivery and the cursor move together, with no client joining
        # in between (see join()).
        for message in messages:
            for client in list(self.clients):
                if not client.wants(message.country):
                    continue
                try:
                    client.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self._drop(client)
            self.last_id = message.id

    async def close(self) -> None:
        task, self._task = self._task, None
        for client in list(self.clients):
            client.dropped = True
        self.clients.clear()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def replay(
    db: Database,
    after: int,
    upto: int,
    scope: frozenset[str] | None,
    countries: frozenset[str] | None,
    limit: int,
) -> list[Message] | None:
    """The events after ``after`` up to ``upto`` that the client may see, or None when there are
    more than ``limit`` (the client should reload instead)."""
    statement = sa.select(StateEvent).where(col(StateEvent.id) > after, col(StateEvent.id) <= upto)
    for allowed in (scope, countries):
        if allowed is not None:
            statement = statement.where(col(StateEvent.country_code).in_(sorted(allowed)))
    events, headlines = await _read(db, statement, limit + 1)
    if len(events) > limit:
        return None
    return _messages(events, headlines)
