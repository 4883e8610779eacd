"""The scheduler's dispatch: each device on its own interval, a slow device never delays the
others and is never run twice at once, re-planning and dropping a device take effect at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes import base
from fleet.probes.base import Probe
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.types import ProbeStatus, ProbeTarget, Reading, utcnow
from fleet.settings import Settings
from tests.scheduling import run_for
from tests.scheduling import tcp_spec as spec

pytestmark = pytest.mark.anyio

SLOW = 9  # the device whose rounds take SLOW_S
SLOW_S = 0.5


class Timed:
    """A TCP "probe" that answers at once, except for the slow device; counts rounds."""

    kind = "tcp"

    def __init__(self) -> None:
        self.rounds: Counter[int] = Counter()
        self.running: Counter[int] = Counter()
        self.overlapped = False

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        device = target.device_id
        self.running[device] += 1
        self.overlapped |= self.running[device] > 1
        try:
            await asyncio.sleep(SLOW_S if device == SLOW else 0)
        finally:
            self.running[device] -= 1
        self.rounds[device] += 1
        return Reading(kind="tcp", device_id=device, status=ProbeStatus.OK, started_at=utcnow())


@pytest.fixture
async def scheduler(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ProbeScheduler]:
    instances: dict[tuple[str, str], Probe] = {("tcp", "asyncio"): Timed()}
    monkeypatch.setattr(base, "_instances", instances)
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        probe_interval_s=0.2,
        probe_jitter_s=0,
        probe_retries=0,
    )
    db = Database(settings.database_url)
    yield ProbeScheduler(db, settings, Cipher(None))
    await db.dispose()


def probe() -> Timed:
    found = base._instances[("tcp", "asyncio")]
    assert isinstance(found, Timed)
    return found


async def test_each_device_on_its_interval_and_a_slow_one_delays_nobody(
    scheduler: ProbeScheduler,
) -> None:
    for device_id in (1, 2, SLOW):
        scheduler.specs[device_id] = spec(device_id)
        scheduler.plan(device_id, 0.0)
    await run_for(scheduler, 1.0)
    rounds = probe().rounds
    assert 4 <= rounds[1] <= 6, rounds  # every 0.2 s for 1 s (the first at once)
    assert 4 <= rounds[2] <= 6, rounds
    assert rounds[SLOW] == 2  # at 0 and 0.6 s (0.5 s each): the rounds due between are skipped...
    assert not probe().overlapped  # ...never run beside the one still running
    assert scheduler.missed >= 3
    assert max(scheduler.lateness()) < 0.1  # the slow device held up no dispatch


async def test_a_device_interval_of_its_own(scheduler: ProbeScheduler) -> None:
    scheduler.specs[1] = spec(1)
    scheduler.specs[2] = spec(2, interval_s=1)
    scheduler.plan(1, 0.0)
    scheduler.plan(2, 0.0)
    await run_for(scheduler, 1.05)
    assert probe().rounds[2] == 2  # at once and after 1 s
    assert probe().rounds[1] >= 5


async def test_replanned_and_dropped_devices(scheduler: ProbeScheduler) -> None:
    for device_id in (1, 2):
        scheduler.specs[device_id] = spec(device_id)
        scheduler.plan(device_id, 0.0)
    scheduler.plan(1, 0.5)  # re-planned: the first plan's round does not run
    del scheduler.specs[2]  # dropped as reconcile drops it
    scheduler.drop(2)
    await run_for(scheduler, 0.45)
    assert probe().rounds[1] == 0
    assert probe().rounds[2] == 0
    await run_for(scheduler, 0.2)
    assert probe().rounds[1] == 1
    assert scheduler.planned() == {1}


async def test_cut_off_devices_are_probed_less_often(scheduler: ProbeScheduler) -> None:
    scheduler.specs[1] = spec(1)
    scheduler.plan(1, 0.0)
    await run_for(scheduler, 0.05)
    assert probe().rounds[1] == 1
    scheduler.device_state_changed(1, cut_off=True)  # now every 5 x 0.2 s, counted from now
    await run_for(scheduler, 0.9)
    assert probe().rounds[1] == 1
    await run_for(scheduler, 0.2)
    assert probe().rounds[1] == 2
    scheduler.device_state_changed(1, cut_off=False)  # back to every 0.2 s
    await run_for(scheduler, 0.3)
    assert probe().rounds[1] == 3
