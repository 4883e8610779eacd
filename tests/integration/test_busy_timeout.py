"""FLEET_SQLITE_BUSY_TIMEOUT_S sets how long a SQLite write waits for another's lock; the
record of a token's last use gives way to another's lock instead of failing the request."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from fleet.access import tokens
from fleet.access.models import ApiToken
from fleet.database import Database
from fleet.models import utcnow
from tests.conftest import make_token


async def _wait_for_held_lock(path: Path, seconds: float) -> tuple[int, float]:
    holder = Database(f"sqlite+aiosqlite:///{path}")
    waiter = Database.of(f"sqlite+aiosqlite:///{path}", seconds)
    try:
        async with holder.session(write=True) as held:
            await held.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            async with waiter.session() as reading:
                timeout = await reading.scalar(sa.text("PRAGMA busy_timeout"))
            async with waiter.session(write=True) as session:
                started = time.monotonic()
                with pytest.raises(OperationalError, match="database is locked"):
                    await session.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE waits
                return int(timeout or 0), time.monotonic() - started
    finally:
        await waiter.dispose()
        await holder.dispose()


def test_a_write_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    timeout, waited = asyncio.run(_wait_for_held_lock(tmp_path / "busy.db", 0.3))
    assert timeout == 300
    assert 0.25 < waited < 5


async def _touch_while_locked(path: Path) -> tuple[bool, bool]:
    holder = Database(f"sqlite+aiosqlite:///{path}")
    waiter = Database.of(f"sqlite+aiosqlite:///{path}", 0.3)
    try:
        async with waiter.session() as reading:
            token_id = await reading.scalar(sa.select(sa.func.min(col(ApiToken.id))))
        async with holder.session(write=True) as held:
            await held.execute(sa.text("DELETE FROM idempotency_record"))  # takes the lock
            locked = await tokens.touch(waiter, token_id, utcnow())
        free = await tokens.touch(waiter, token_id, utcnow())
        return locked, free
    finally:
        await waiter.dispose()
        await holder.dispose()


def test_a_token_use_is_not_recorded_rather_than_failing_while_the_database_is_locked(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.db"
    shutil.copy(sqlite_template, path)
    make_token(f"sqlite+aiosqlite:///{path}", "reader", "viewer")
    assert asyncio.run(_touch_while_locked(path)) == (False, True)
