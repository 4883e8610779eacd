"""Idempotency records: the first response to a key, per token, replayed to its retries.

A key is claimed by inserting a ``running`` record (the unique (token, key) index makes the claim
atomic on both databases); the response is then stored with it. A retry with the same request
gets the stored response; with another request, a clear error; while the first still runs, a
conflict.

The request's own write marks the record ``applied`` in the same transaction (a listener of
``fleet.database.WriteSession``), so a claim whose process died is told apart: one never applied
is taken over and run again, one applied whose answer was lost is never run twice (a conflict
says so). On PostgreSQL a claim names its owner's presence key and is taken over as soon as
that process is gone (several API processes share the database); on SQLite, after
``STALE_AFTER``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from fleet.access.models import IdempotencyRecord
from fleet.database import Database, WriteSession
from fleet.errors import Conflict, InvalidInput
from fleet.models import utcnow
from fleet.presence import is_gone

log = structlog.get_logger(__name__)

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
STILL_RUNNING = "a request with this Idempotency-Key is still running; retry later"
ANSWER_LOST = (
    "the request with this Idempotency-Key was carried out, but the process serving it stopped "
    "before it answered: read the object instead of retrying"
)

#: The claim whose request runs in this context: its writes mark it applied.
_running: ContextVar[tuple[int, str] | None] = ContextVar("fleet_idempotency", default=None)


@dataclass(frozen=True)
class Stored:
    status: int
    headers: list[list[str]]
    body: bytes


def request_hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            field="Idempotency-Key",
        )


@contextmanager
def running(token_id: int, key: str) -> Iterator[None]:
    """The claimed request runs inside: each of its committed writes marks the claim applied."""
    reset = _running.set((token_id, key))
    try:
        yield
    finally:
        _running.reset(reset)


@event.listens_for(WriteSession, "before_commit")
def _mark_applied(session: Session) -> None:
    claimed = _running.get()
    if claimed is None:
        return
    token_id, key = claimed
    session.execute(
        sa.update(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.token_id) == token_id,
            col(IdempotencyRecord.key) == key,
            col(IdempotencyRecord.state) == "running",
        )
        .values(state="applied")
    )


async def _abandoned(session: AsyncSession, record: IdempotencyRecord, now: datetime) -> bool:
    """Whether the request that claimed ``record`` ended without an answer: its process is gone
    (PostgreSQL), or it is older than STALE_AFTER."""
    if record.owner is not None and session.get_bind().dialect.name == "postgresql":
        return await is_gone(session, record.owner)
    return record.created_at < now - STALE_AFTER


async def claim(
    db: Database, token_id: int, key: str, digest: str, ttl: timedelta
) -> Stored | None:
    """Claim ``key`` for a new request (None), or return the stored first response."""
    now = utcnow()
    owner = await db.presence_key()
    for _ in range(3):
        async with db.session(write=True) as session:
            existing = await session.scalar(
                sa.select(IdempotencyRecord).where(
                    col(IdempotencyRecord.token_id) == token_id, col(IdempotencyRecord.key) == key
                )
            )
            if existing is not None:
                if existing.expires_at <= now:
                    await session.delete(existing)
                    await session.commit()
                    continue
                if existing.request_hash != digest:
                    raise InvalidInput(
                        "this Idempotency-Key was used for a different request; use a new key",
                        field="Idempotency-Key",
                    )
                if existing.state != "done":
                    if not await _abandoned(session, existing, now):
                        raise Conflict(STILL_RUNNING)
                    if existing.state == "applied":
                        raise Conflict(ANSWER_LOST)
                    await session.delete(existing)  # never applied: run it again
                    await session.commit()
                    continue
                assert existing.status is not None
                return Stored(existing.status, existing.headers or [], existing.body or b"")
            session.add(
                IdempotencyRecord(
                    token_id=token_id,
                    key=key,
                    request_hash=digest,
                    state="running",
                    expires_at=now + ttl,
                    owner=owner,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                continue  # another request claimed it first: read what it holds
            return None
    raise Conflict(STILL_RUNNING)


async def complete(db: Database, token_id: int, key: str, response: Stored) -> None:
    async with db.session(write=True) as session:
        await session.execute(
            sa.update(IdempotencyRecord)
            .where(col(IdempotencyRecord.token_id) == token_id, col(IdempotencyRecord.key) == key)
            .values(
                state="done", status=response.status, headers=response.headers, body=response.body
            )
        )
        await session.commit()


async def release(db: Database, token_id: int, key: str) -> None:
    """Forget a claim whose request failed, so that a retry runs it again."""
    async with db.session(write=True) as session:
        await session.execute(
            sa.delete(IdempotencyRecord).where(
                col(IdempotencyRecord.token_id) == token_id, col(IdempotencyRecord.key) == key
            )
        )
        await session.commit()


async def purge_expired(db: Database) -> int:
    async with db.session(write=True) as session:
        result = await session.execute(
            sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= utcnow())
        )
        await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


async def keep_purging(db: Database, every_s: float) -> None:
    """Delete the expired records now and then every ``every_s`` seconds, until cancelled (each
    API process runs it; a delete of what another process already deleted is harmless). A
    failed purge is logged and tried again at the next turn."""
    while True:
        try:
            purged = await purge_expired(db)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("idempotency_purge_failed", error=str(exc))
        else:
            if purged:
                log.info("idempotency_purged", records=purged)
        await asyncio.sleep(every_s)
