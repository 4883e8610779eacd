"""The status stream: every change of state of a site, device or link as a server-sent event.

One poller task per process reads the new rows of ``state_event`` (whose ids only grow) and fans
each event out, encoded once, to a bounded queue per client. A client whose queue is full is
dropped, never buffered without end: it reconnects with ``Last-Event-ID`` and is replayed from
the database. The poller runs only while someone listens, whatever the number of listeners.

Reading the database rather than the status engine means the stream works whichever process
runs the probes (``fleet serve`` or ``fleet worker``). State events have a single writer (the
status engine, which flushes under a lock), so their ids become visible in order and reading
``id > last`` misses none.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream
from sqlmodel import col

from fleet.api.deps import principal_of
from fleet.api.openapi import Problem, problem_responses
from fleet.api.problems import PROBLEM_JSON
from fleet.api.status import SiteStatus
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.inventory.models import Site
from fleet.logging import get_logger
from fleet.metrics import STREAM_CLIENTS, STREAM_DROPPED, STREAM_EVENTS
from fleet.models import fits_int32, utcnow
from fleet.probes.models import StateEvent, status_of
from fleet.probes.status import UNKNOWN
from fleet.settings import Settings

log = get_logger("fleet.stream")
RETRY_MS = 3000
REPLAY_CHUNK = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")


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


def _event_payload(event: StateEvent, site: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_key": event.object_key,
        "site_id": event.site_id,
        "country": event.country_code,
        "old_state": event.old_state,
        "new_state": event.new_state,
        "cause": event.cause,
        "site": site,
    }


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
    """The process's one poller and its clients."""

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
            raise ServiceUnavailableException(
                f"this process already serves {self.max_clients} stream clients; retry later",
                headers={"Retry-After": "10"},
            )
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


async def _client_stream(
    hub: StreamHub, client: Client, head: Sequence[bytes], seconds: float, heartbeat_s: float
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        for start in range(0, len(head), REPLAY_CHUNK):
            yield b"".join(head[start : start + REPLAY_CHUNK])
        while not client.dropped:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(min(heartbeat_s, remaining)):
                    message = await client.queue.get()
            except TimeoutError:
                if loop.time() < deadline:
                    yield frame("heartbeat", {"at": utcnow(), "last_id": hub.last_id})
                continue
            if client.dropped:
                return
            frames = [message.frame]
            while len(frames) < REPLAY_CHUNK and not client.queue.empty():
                frames.append(client.queue.get_nowait().frame)
            yield b"".join(frames)
    finally:
        hub.leave(client)


def _start_id(last_event_id: str | None, after: int | None) -> int | None:
    """Where a client resumes: ``Last-Event-ID`` (sent by a reconnecting EventSource) wins over
    ``after`` (the id a page was rendered at)."""
    if last_event_id is not None and last_event_id.strip():
        raw = last_event_id.strip()
        if not raw.isdigit() or not fits_int32(int(raw)):
            raise InvalidInput("Last-Event-ID must be an event id", field="Last-Event-ID")
        return int(raw)
    return after


def _countries(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    codes = frozenset(c.strip() for c in raw.split(",") if c.strip())
    if not codes or not all(_COUNTRY.match(c) for c in codes):
        raise InvalidInput("country takes country codes, e.g. NE or NE,ML", field="country")
    return codes


@get(
    "/status/stream",
    summary="Status stream (server-sent events)",
    description="Every change of state of a site, device or link, as it happens: one `state` "
    "event each, with the event's `id`, the change, and the site's headline now. A client that "
    "reconnects with `Last-Event-ID` (browsers' EventSource does so by itself), or passes "
    "`after`, first gets the events it missed (up to FLEET_STREAM_REPLAY_MAX; further behind, a "
    "`reset` event tells it to reload the status). A `hello` event follows the replay; a "
    "`heartbeat` event comes when nothing happened for a while. A client that does not keep up "
    "is disconnected and resumes the same way. The stream ends after `timeout` seconds.",
    operation_id="status_stream",
    tags=["status"],
    media_type="text/event-stream",
    opt={"permission": "status:read", "skip_compression": True},
    responses={
        **problem_responses(401, 403, 422),
        503: ResponseSpec(
            data_container=Problem,
            description="Too many stream clients on this process; see Retry-After",
            media_type=PROBLEM_JSON,
            generate_examples=False,
        ),
    },
)
async def status_stream(
    request: Request[Any, Any, Any],
    state: State,
    settings: Settings,
    after: Annotated[
        int | None,
        Parameter(
            query="after",
            required=False,
            ge=0,
            le=2**31 - 1,
            description="Replay the events after this id (ignored when Last-Event-ID is sent)",
        ),
    ] = None,
    timeout: Annotated[  # noqa: ASYNC109 - the stream's length, a query parameter
        float | None,
        Parameter(
            query="timeout",
            required=False,
            ge=0,
            le=86400,
            description="End the stream after this many seconds (at most "
            "FLEET_STREAM_MAX_SECONDS, the default); 0 sends what was missed and ends",
        ),
    ] = None,
    country: Annotated[
        str | None,
        Parameter(query="country", required=False, description="Only these country codes"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Parameter(
            header="Last-Event-ID",
            required=False,
            max_length=20,
            description="The id of the last event received",
        ),
    ] = None,
) -> Stream:
    hub: StreamHub = state.stream
    start = _start_id(last_event_id, after)
    countries = _countries(country)
    seconds = settings.stream_max_seconds if timeout is None else timeout
    seconds = min(seconds, settings.stream_max_seconds)
    scope = principal_of(request).scope
    client, cursor = await hub.join(scope, countries)
    try:
        head = [f"retry: {RETRY_MS}\n\n".encode()]
        reset: str | None = None
        if start is not None and start > cursor:
            reset = "the last event id is not one of this server's"
        elif start is not None:
            missed = await replay(
                hub.db, start, cursor, scope, countries, settings.stream_replay_max
            )
            if missed is None:
                reset = f"more than {settings.stream_replay_max} events were missed"
            else:
                head.extend(m.frame for m in missed)
        if reset is not None:
            head.append(frame("reset", {"reason": reset, "last_id": cursor}, cursor))
        head.append(
            frame("hello", {"last_id": cursor, "heartbeat_s": settings.stream_heartbeat_s}, cursor)
        )
    except BaseException:
        hub.leave(client)
        raise
    body = _client_stream(hub, client, head, seconds, settings.stream_heartbeat_s)
    weakref.finalize(body, hub.leave, client)  # a stream that never started still leaves
    return Stream(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
