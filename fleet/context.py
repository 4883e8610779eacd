"""Who is acting and for which request: set by the API middleware, the sync and the scheduler,
read by the change log and the log lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
actor: ContextVar[str] = ContextVar("actor", default="system")
actor_role: ContextVar[str | None] = ContextVar("actor_role", default=None)


@contextmanager
def acting_as(name: str, request: str | None = None) -> Iterator[None]:
    """Run a block as ``name`` (and under request id ``request``), then restore what was there."""
    actor_token = actor.set(name)
    request_token = request_id.set(request) if request is not None else None
    try:
        yield
    finally:
        actor.reset(actor_token)
        if request_token is not None:
            request_id.reset(request_token)
