"""Audit events: refused authentications and reads of credential metadata. Never a secret."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import context
from fleet.access.models import AuditEvent
from fleet.database import Database


def add(
    session: AsyncSession,
    kind: str,
    *,
    actor: str | None = None,
    client: str | None = None,
    path: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an event to ``session`` (committed with the caller's transaction)."""
    event = AuditEvent(
        kind=kind,
        actor=actor if actor is not None else context.actor.get(),
        request_id=context.request_id.get(),
        client=client,
        path=path,
        detail=detail,
    )
    session.add(event)
    return event


async def record(
    db: Database, kind: str, connection: ASGIConnection[Any, Any, Any, Any], **detail: Any
) -> None:
    """Record an event in its own transaction (for refusals, whose request writes nothing)."""
    client = connection.client.host if connection.client else None
    async with db.session(write=True) as session:
        add(session, kind, actor=None, client=client, path=connection.url.path, **detail)
        await session.commit()


#: An audit event's columns as the API shows them.
FIELDS = ("id", "at", "kind", "actor", "request_id", "client", "path", "detail")


def public(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in FIELDS}
