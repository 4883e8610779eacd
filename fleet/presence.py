"""A process's presence on PostgreSQL, seen by the others: a session-level advisory lock that
one connection of the process holds for as long as the process lives.

Another process tells whether the owner of a key is alive by trying to take the same lock: it
gets it only when the owner's connection is gone (the process stopped, was killed, or lost the
database). Locks of this kind use the two-key form, whose key space is apart from the one-key
advisory locks (``fleet.database.advisory_xact_lock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

#: The first key of every presence lock; the second is the process's own.
PRESENCE_CLASS = 0x666C  # "fl"
#: How often the holding connection is checked (a lost one is replaced under a new key).
CHECK_EVERY_S = 5.0


class Presence:
    """This process's presence key, held by one connection taken from ``engine`` on first use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.key = 0
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._checked = 0.0

    async def held(self) -> int:
        """The key this process holds (taken again, under a new key, if the connection that
        held it was lost: claims made under the old key then count as abandoned)."""
        async with self._lock:
            now = time.monotonic()
            if self._connection is not None and now - self._checked >= CHECK_EVERY_S:
                self._checked = now
                if not await self._alive(self._connection):
                    await self._drop()
            if self._connection is None:
                key = secrets.randbelow(2**31 - 1) + 1
                connection = await self.engine.connect()
                try:
                    await connection.execute(
                        sa.text("SELECT pg_advisory_lock(:c, :k)"),
                        {"c": PRESENCE_CLASS, "k": key},
                    )
                    await connection.commit()  # the lock is the session's: it outlives this
                except BaseException:
                    await connection.close()
                    raise
                self._connection, self.key, self._checked = connection, key, now
            return self.key

    @staticmethod
    async def _alive(connection: AsyncConnection) -> bool:
        if connection.closed or connection.invalidated:
            return False
        try:
            await connection.execute(sa.text("SELECT 1"))
            await connection.commit()
        except sa.exc.DBAPIError:
            return False
        return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                await connection.invalidate()  # never back to the pool holding the lock

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


async def is_gone(session: AsyncSession, key: int) -> bool:
    """Whether the process that held presence ``key`` is gone (its lock is free)."""
    taken = await session.scalar(
        sa.text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": PRESENCE_CLASS, "k": key}
    )
    if taken:
        await session.execute(
            sa.text("SELECT pg_advisory_unlock(:c, :k)"), {"c": PRESENCE_CLASS, "k": key}
        )
    return bool(taken)
