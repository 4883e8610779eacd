"""FLEET_SQLITE_BUSY_TIMEOUT_S sets how long a SQLite write waits for another's lock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from fleet.database import Database


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
