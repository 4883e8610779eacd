"""Who is acting and for which request: set by the API middleware, the sync and the scheduler,
read by the change log and the log lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
actor: ContextVar[str] = ContextVar("actor", default="system")
actor_role: ContextVar[str | None] = ContextVar("actor_role", default=None)


def run_id(name: str) -> str:
    """A request id of its own for one run of a background job, such as ``sync-1f3a9c04d2e7``."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


@contextmanager
def acting_as(name: str, request: str | None = None) -> Iterator[None]:
    """Run a block as ``name`` under request id ``request``, then restore what was there.

    Without ``request``, the block keeps the request id it runs under (an API request's), or,
    when there is none (a scheduler run, a sync, start-up), gets one of its own, so that every
    change it logs names its run."""
    actor_token = actor.set(name)
    if request is None and request_id.get() is None:
        request = run_id(name)
    request_token = request_id.set(request) if request is not None else None
    try:
        yield
    finally:
        actor.reset(actor_token)
        if request_token is not None:
            request_id.reset(request_token)
