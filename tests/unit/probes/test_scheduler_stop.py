"""Stopping the scheduler lets the rounds in flight end (within a grace time) and keeps what
they saw; a round that outlasts the grace time is cancelled, and stop still returns."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes import base
from fleet.probes.base import Probe
from fleet.probes.models import ProbeResult
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import ProbeStatus, ProbeTarget, Reading, utcnow
from fleet.settings import Settings

pytestmark = pytest.mark.anyio


class Slow:
    """A TCP "probe" that takes ``seconds`` to answer and remembers how its rounds ended."""

    kind = "tcp"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = asyncio.Event()
        self.ended: list[str] = []

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        self.ended.append("answered")
        return Reading(
            kind="tcp", device_id=target.device_id, status=ProbeStatus.OK, started_at=utcnow()
        )


async def _stop_during_a_round(
    monkeypatch: pytest.MonkeyPatch, url: str, probe_s: float, grace_s: float
) -> tuple[Slow, float, ProbeScheduler, int]:
    slow = Slow(probe_s)
    instances: dict[tuple[str, str], Probe] = {("tcp", "asyncio"): slow}
    monkeypatch.setattr(base, "_instances", instances)
    settings = Settings(
        database_url=url, probe_retries=0, probe_timeout_s=probe_s + 5, probe_jitter_s=0
    )
    db = Database(settings.database_url)
    try:
        scheduler = ProbeScheduler(db, settings, Cipher(None))
        scheduler.specs[7] = DeviceProbes(
            device_id=7,
            site_id=1,
            serial="SN-7",
            kinds=("tcp",),
            interval_s=None,
            target=ProbeTarget(7, "127.0.0.1", 9),
        )
        scheduler.scheduler.start()
        scheduler.plan(7, 0.0)
        await scheduler.dispatch_due()  # the round is due: it starts
        await asyncio.wait_for(slow.started.wait(), 5)
        started = time.monotonic()
        await scheduler.stop(grace_s=grace_s)
        took = time.monotonic() - started
        async with db.session() as session:
            stored = await session.scalar(sa.select(sa.func.count()).select_from(ProbeResult))
        return slow, took, scheduler, int(stored or 0)
    finally:
        await db.dispose()


@pytest.fixture
def url(tmp_path: Path, sqlite_template: Path) -> str:
    shutil.copy(sqlite_template, tmp_path / "fleet.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"


async def test_a_round_in_flight_ends_before_stop_returns(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    slow, took, scheduler, stored = await _stop_during_a_round(monkeypatch, url, 0.3, grace_s=5)
    assert slow.ended == ["answered"]
    assert stored == 1  # its result was kept
    assert took < 3
    assert not scheduler.in_flight()
    assert not scheduler.scheduler.running


async def test_a_round_longer_than_the_grace_time_is_cancelled(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    slow, took, scheduler, stored = await _stop_during_a_round(monkeypatch, url, 30, grace_s=0.2)
    assert slow.ended == ["cancelled"]
    assert stored == 0
    assert took < 3
    assert not scheduler.in_flight()
