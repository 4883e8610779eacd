"""Rate-limit windows shared by the API processes of one PostgreSQL database: one row per
token, a fixed window of one wall-clock minute, counted with one upsert per request."""

from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from fleet.access.models import RateWindow
from fleet.database import Database

WINDOW_S = 60
RATE_WINDOW: sa.Table = RateWindow.__table__  # type: ignore[attr-defined]  # rows, not objects


async def take(db: Database, token_id: int, limit: int, now: float) -> tuple[bool, int, int]:
    """Count one request of ``token_id`` at ``now`` (seconds since the epoch); returns (allowed,
    remaining, seconds until the window resets), as ``fleet.api.auth.RateLimiter.take``."""
    window = int(now // WINDOW_S)
    table = RATE_WINDOW
    statement = (
        insert(table)
        .values(token_id=token_id, window_start=window, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.token_id],
            set_={
                "window_start": window,
                "count": sa.case(
                    (table.c.window_start == window, table.c["count"] + 1), else_=sa.literal(1)
                ),
            },
        )
        .returning(table.c["count"])
    )
    async with db.session(write=True) as session:
        count = int((await session.execute(statement)).scalar_one())
        await session.commit()
    reset = max(1, math.ceil((window + 1) * WINDOW_S - now))
    if count > limit:
        return False, 0, reset
    return True, limit - count, reset
