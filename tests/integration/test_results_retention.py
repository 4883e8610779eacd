"""Probe results are kept for the retention time: the purge deletes what is older, keeps the
rest, and never runs beside a flush of new results (both backends)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from fleet.database import Database
from fleet.probes.models import ProbeResult
from fleet.probes.status import StatusEngine
from fleet.probes.types import ProbeStatus, Reading, utcnow
from tests.conftest import run


def test_purge_deletes_only_what_is_older(db_url: str) -> None:
    now = utcnow()

    async def scenario() -> None:
        db = Database(db_url)
        try:
            engine = StatusEngine(db)
            for age_days, device_id in ((10, 1), (8, 2), (1, 3), (0, 4)):
                engine.observe(
                    device_id,
                    [Reading("tcp", device_id, ProbeStatus.OK, now - timedelta(days=age_days))],
                )
            assert await engine.flush() == 4
            engine.observe(5, [Reading("tcp", 5, ProbeStatus.OK, now)])
            flushing = asyncio.create_task(engine.flush())
            await asyncio.sleep(0)  # the flush has begun writing...
            assert engine.writing
            purged = await engine.purge(now - timedelta(days=7))
            assert flushing.done()  # ...and the purge waited for it to end
            assert flushing.result() == 1
            assert purged == 2
            async with db.session() as session:
                kept = (
                    await session.scalars(
                        sa.select(col(ProbeResult.device_id)).order_by(col(ProbeResult.device_id))
                    )
                ).all()
            assert kept == [3, 4, 5]
            assert await engine.purge(now - timedelta(days=7)) == 0
        finally:
            await db.dispose()

    run(scenario())
