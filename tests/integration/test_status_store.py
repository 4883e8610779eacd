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


def test_last_success_is_exact_and_lags_at_most_the_bound(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that answers every 7 s for five minutes: after every flush its row holds one
    of its success times, to the microsecond, never more than LAST_OK_LAG behind the last one
    (the rule 'answered within N hours' reads it), and not every round writes it; a new
    firmware is written at once, with the exact last success; an engine loaded from the rows
    knows both."""
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
            answered, stored = [START], set()
            for step in range(1, 43):
                clock[0] = START + timedelta(seconds=7 * step, microseconds=3 * step)
                answered.append(clock[0])
                answer()
                await engine.flush()
                firmware, last_ok, _ = await _row(db)
                assert firmware == "15.2"
                assert last_ok in answered
                assert clock[0] - last_ok < status.LAST_OK_LAG
                stored.add(last_ok)
            assert 4 <= len(stored) < len(answered) / 3  # written about once a minute
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
