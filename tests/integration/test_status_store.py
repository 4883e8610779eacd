"""What the status engine writes of a device's observations: the firmware and the exact moment
of its last success, as columns, kept as they move (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from fleet.database import Database
from fleet.probes import status
from fleet.probes.models import ObjectStatus
from fleet.probes.status import DeviceInfo, SiteInfo, StatusEngine, Topology
from fleet.probes.types import ProbeStatus, Reading
from tests.conftest import run

START = datetime(2026, 11, 1, 10, 0, 1, 500_000, tzinfo=UTC)


async def _row(db: Database) -> tuple[str | None, datetime | None, dict[str, object]]:
    async with db.session() as session:
        row = await session.scalar(
            sa.select(ObjectStatus).where(col(ObjectStatus.object_type) == "device")
        )
        assert row is not None
        return row.firmware_observed, row.last_ok_at, row.detail


def test_last_success_is_exact_and_follows_every_round(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that keeps answering within one quarter hour: its row says when it last
    answered, to the microsecond, after every flush (the rule 'answered within N hours' reads
    it); its firmware too; and an engine loaded from the rows knows both."""
    clock = [START]
    monkeypatch.setattr(status, "utcnow", lambda: clock[0])

    async def scenario() -> None:
        db = Database(db_url)
        try:
            engine = StatusEngine(db)
            site = SiteInfo(1, "NE-BCL-01", "NE", "border_crossing_land", devices=[7])
            engine.topology = Topology(
                sites={1: site}, devices={7: DeviceInfo(7, "SN7", 1, None, "active")}
            )

            def answer(firmware: str = "") -> None:
                engine.observe(
                    7, [Reading("snmp", 7, ProbeStatus.OK, clock[0], firmware_version=firmware)]
                )

            answer("15.2")
            await engine.flush()
            assert await _row(db) == ("15.2", START, {"health": "up"})
            for seconds in (7, 14):
                clock[0] = START + timedelta(seconds=seconds, microseconds=3)
                answer()
                await engine.flush()
                assert (await _row(db))[:2] == ("15.2", clock[0])
            clock[0] += timedelta(seconds=7)
            answer("15.4")
            await engine.flush()
            assert (await _row(db))[:2] == ("15.4", clock[0])
            again = StatusEngine(db)
            await again.load()
            assert (again.health[7].firmware, again.health[7].last_ok_at) == ("15.4", clock[0])
        finally:
            await db.dispose()

    run(scenario())
