"""Idempotency records: the first response to a key, per token, replayed to its retries.

A key is claimed by inserting a ``running`` record (the unique (token, key) index makes the claim
atomic on both databases); the response is then stored with it. A retry with the same request
gets the stored response; with another request, a clear error; while the first still runs, a
conflict. A claim whose request died without an answer is taken over after ``STALE_AFTER``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from fleet.access.models import IdempotencyRecord
from fleet.database import Database
from fleet.errors import Conflict, InvalidInput
from fleet.models import utcnow

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


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


async def claim(
    db: Database, token_id: int, key: str, digest: str, ttl: timedelta
) -> Stored | None:
    """Claim ``key`` for a new request (None), or return the stored first response."""
    now = utcnow()
    for _ in range(3):
        async with db.session(write=True) as session:
            existing = await session.scalar(
                sa.select(IdempotencyRecord).where(
                    col(IdempotencyRecord.token_id) == token_id, col(IdempotencyRecord.key) == key
                )
            )
            if existing is not None:
                stale = existing.state == "running" and existing.created_at < now - STALE_AFTER
                if existing.expires_at <= now or stale:
                    await session.delete(existing)
                    await session.commit()
                    continue
                if existing.request_hash != digest:
                    raise InvalidInput(
                        "this Idempotency-Key was used for a different request; use a new key",
                        field="Idempotency-Key",
                    )
                if existing.state == "running":
                    raise Conflict(
                        "a request with this Idempotency-Key is still running; retry later"
                    )
                assert existing.status is not None
                return Stored(existing.status, existing.headers or [], existing.body or b"")
            session.add(
                IdempotencyRecord(
                    token_id=token_id,
                    key=key,
                    request_hash=digest,
                    state="running",
                    expires_at=now + ttl,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                continue  # another request claimed it first: read what it holds
            return None
    raise Conflict("a request with this Idempotency-Key is still running; retry later")


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
