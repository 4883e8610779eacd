"""The status stream: every change of state of a site, device or link as a server-sent event,
served from the probes' event source (:mod:`fleet.probes.events`). A client that does not keep
up is dropped and reconnects with ``Last-Event-ID``, to be replayed from the database."""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from fleet.api import query
from fleet.api.deps import principal_of
from fleet.api.openapi import Problem, problem_responses
from fleet.api.problems import PROBLEM_JSON
from fleet.errors import InvalidInput
from fleet.models import utcnow
from fleet.probes.events import Client, StreamFull, StreamHub, frame, latest_event_id, replay
from fleet.settings import Settings

# the board reads where the stream starts
__all__ = ["latest_event_id", "status_stream"]

RETRY_MS = 3000
REPLAY_CHUNK = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")


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


LAST_EVENT_ID = re.compile(r"[0-9]{1,10}")
MAX_EVENT_ID = 2**31 - 1


def _start_id(last_event_id: str | None, after: int | None) -> int | None:
    """Where a client resumes: ``Last-Event-ID`` (sent by a reconnecting EventSource) wins over
    ``after`` (the id a page was rendered at)."""
    if last_event_id is not None and last_event_id.strip():
        raw = last_event_id.strip()
        if not LAST_EVENT_ID.fullmatch(raw):
            raise InvalidInput("Last-Event-ID must be an event id", field="Last-Event-ID")
        return min(int(raw), MAX_EVENT_ID)  # an id beyond every event: nothing was missed
    return after


def _countries(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    codes = frozenset(c.strip() for c in raw.split(",") if c.strip())
    if not codes or not all(_COUNTRY.match(c) for c in codes):
        raise InvalidInput("country takes country codes, e.g. NE or NE,ML", field="country")
    return codes


async def _opening(
    hub: StreamHub,
    settings: Settings,
    start: int | None,
    cursor: int,
    scope: frozenset[str] | None,
    countries: frozenset[str] | None,
) -> list[bytes]:
    """What a stream begins with: the retry hint, the events missed since ``start`` (or a reset
    when they cannot be replayed), and a hello with the current id."""
    head = [f"retry: {RETRY_MS}\n\n".encode()]
    reset: str | None = None
    if start is not None and start > cursor:
        reset = "the last event id is not one of this server's"
    elif start is not None:
        missed = await replay(hub.db, start, cursor, scope, countries, settings.stream_replay_max)
        if missed is None:
            reset = f"more than {settings.stream_replay_max} events were missed"
        else:
            head.extend(m.frame for m in missed)
    if reset is not None:
        head.append(frame("reset", {"reason": reset, "last_id": cursor}, cursor))
    head.append(
        frame("hello", {"last_id": cursor, "heartbeat_s": settings.stream_heartbeat_s}, cursor)
    )
    return head


CountryFilter = query.Countries


class StreamEvent(msgspec.Struct):
    """One server-sent event as a client's parser reads it: its type, its ``data`` (JSON text)
    and its ``id``."""

    event: Literal["state", "reset", "hello", "heartbeat"]
    data: str | None = None
    id: str | None = None


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
        200: ResponseSpec(
            data_container=StreamEvent,
            description="Server-sent events, each `event:` one of `state` (a change of state, "
            "`data` its JSON), `reset` (too far behind: reload the status), `hello` (after the "
            "replay) and `heartbeat` (nothing happened for a while); `id:` is the event's id",
            media_type="text/event-stream",
            generate_examples=False,
        ),
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
            schema_extra={"minimum": 0},  # the framework leaves out a bound of 0
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
            schema_extra={"minimum": 0},
            le=86400,
            description="End the stream after this many seconds (at most "
            "FLEET_STREAM_MAX_SECONDS, the default); 0 sends what was missed and ends",
        ),
    ] = None,
    country: CountryFilter = None,
    last_event_id: Annotated[
        str | None,
        Parameter(
            header="Last-Event-ID",
            required=False,
            pattern=rf"^{LAST_EVENT_ID.pattern}$",
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
    try:
        client, cursor = await hub.join(scope, countries)
    except StreamFull as full:
        raise ServiceUnavailableException(str(full), headers={"Retry-After": "10"}) from None
    try:
        head = await _opening(hub, settings, start, cursor, scope, countries)
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
