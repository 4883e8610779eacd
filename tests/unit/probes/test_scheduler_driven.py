"""Rounds driven by a driver's callbacks (``start``, as gufo-snmp's v2c poll): run without a
task, under the same limits, retried as ``run_probe`` retries, observed and stored; a round
held by the limits stays due and starts as a slot frees; a driver that declines gets a task;
``stop`` and ``idle`` wait for driven rounds too."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes import base
from fleet.probes.base import Probe
from fleet.probes.models import ProbeResult
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.types import ProbeStatus, ProbeTarget, Reading, utcnow
from fleet.settings import Settings
from tests.scheduling import run_for, schedule
from tests.scheduling import tcp_spec as spec

pytestmark = pytest.mark.anyio


class Driven:
    """A TCP "probe" with ``start``: answers after ``delay`` with the next of ``statuses`` for
    the device (then ``ok``); ``collect`` is the task path's, counted apart."""

    kind = "tcp"

    def __init__(self, delay: float = 0.0, statuses: dict[int, list[ProbeStatus]] | None = None):
        self.delay = delay
        self.statuses = statuses or {}
        self.started: Counter[int] = Counter()
        self.collected: Counter[int] = Counter()
        self.running: Counter[int] = Counter()
        self.overlapped = False
        self.decline = False

    def _reading(self, device: int) -> Reading:
        queue = self.statuses.get(device) or []
        status = queue.pop(0) if queue else ProbeStatus.OK
        reason = "" if status is ProbeStatus.OK else "no answer"
        return Reading(
            kind="tcp", device_id=device, status=status, reason=reason, started_at=utcnow()
        )

    def start(self, target: ProbeTarget, timeout: float, done: Callable[[Reading], None]) -> bool:
        if self.decline:
            return False
        device = target.device_id
        self.started[device] += 1
        self.running[device] += 1
        self.overlapped |= self.running[device] > 1

        def answer() -> None:
            self.running[device] -= 1
            done(self._reading(device))

        asyncio.get_running_loop().call_later(self.delay, answer)
        return True

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        self.collected[target.device_id] += 1
        await asyncio.sleep(self.delay)
        return self._reading(target.device_id)


@pytest.fixture
def url(tmp_path: Path, sqlite_template: Path) -> str:
    shutil.copy(sqlite_template, tmp_path / "fleet.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"


def make(
    monkeypatch: pytest.MonkeyPatch, url: str, probe: Driven, **settings: object
) -> tuple[ProbeScheduler, Database]:
    instances: dict[tuple[str, str], Probe] = {("tcp", "asyncio"): probe}
    monkeypatch.setattr(base, "_instances", instances)
    values: dict[str, object] = {"probe_interval_s": 0.2, "probe_jitter_s": 0, "probe_retries": 0}
    values.update(settings)
    config = Settings(database_url=url, **values)  # type: ignore[arg-type]
    db = Database(url)
    return ProbeScheduler(db, config, Cipher(None)), db


async def stored(db: Database) -> list[ProbeResult]:
    async with db.session() as session:
        return list((await session.scalars(sa.select(ProbeResult).order_by(ProbeResult.id))).all())


async def test_driven_rounds_run_on_their_interval_and_are_stored(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    probe = Driven(delay=0.01)
    scheduler, db = make(monkeypatch, url, probe)
    try:
        schedule(scheduler, spec(1), spec(2))
        await run_for(scheduler, 1.0)
        assert 4 <= probe.started[1] <= 6, probe.started
        assert 4 <= probe.started[2] <= 6, probe.started
        assert not probe.collected  # no round needed a task
        assert not probe.overlapped
        assert not scheduler.in_flight()
        await scheduler.engine.flush()
        rows = await stored(db)
        assert Counter(r.device_id for r in rows) == probe.started
        assert {r.status for r in rows} == {"ok"}
    finally:
        await db.dispose()


async def test_a_failed_attempt_is_retried_as_run_probe_would(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    probe = Driven(statuses={1: [ProbeStatus.TIMEOUT], 2: [ProbeStatus.TIMEOUT] * 2})
    scheduler, db = make(monkeypatch, url, probe, probe_retries=1)
    try:
        schedule(scheduler, spec(1), spec(2))
        await scheduler.dispatch_due()
        await scheduler.idle()
        await scheduler.engine.flush()
        rows = {r.device_id: r for r in await stored(db)}
        assert probe.started == Counter({1: 2, 2: 2})  # one retry each, no more
        assert rows[1].status == "ok"
        assert rows[2].status == "timeout"
        for row in rows.values():
            data = row.data if isinstance(row.data, dict) else json.loads(str(row.data))
            assert data["values"]["attempts"] == 2
    finally:
        await db.dispose()


async def test_rounds_held_by_the_limits_start_as_slots_free(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """At the global limit nothing starts; at a site's limit only that site's rounds wait.
    Held rounds stay due and start as soon as a round ends, driven too: no task waits."""
    probe = Driven(delay=0.1)
    scheduler, db = make(monkeypatch, url, probe, probe_concurrency=2, probe_site_concurrency=1)
    try:
        schedule(scheduler, spec(1), spec(2), spec(3, site_id=2))
        await asyncio.sleep(0.01)
        await scheduler.dispatch_due()  # site 1 takes one slot, site 2 the other; device 2 waits
        assert sorted(probe.started) == [1, 3] or sorted(probe.started) == [2, 3]
        assert len(scheduler.in_flight()) == 2
        await asyncio.sleep(0.15)  # the first rounds ended: the held one started at once
        assert sorted(probe.started) == [1, 2, 3]
        assert not probe.collected
        assert scheduler.missed == 0
        await scheduler.idle()
    finally:
        await db.dispose()


async def test_paused_no_held_round_starts_and_idle_returns(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    probe = Driven(delay=0.05)
    scheduler, db = make(monkeypatch, url, probe, probe_concurrency=1)
    try:
        schedule(scheduler, spec(1), spec(2))
        scheduler.pause()  # before the start: nothing starts, and no error
        await scheduler.dispatch_due()
        assert not probe.started
        scheduler.resume()
        scheduler.scheduler.start()
        await asyncio.sleep(0.01)
        await scheduler.dispatch_due()  # one starts, one is held by the limit
        scheduler.pause()
        await asyncio.wait_for(scheduler.idle(), 2)  # the held one did not start meanwhile
        assert sum(probe.started.values()) == 1
        scheduler.resume()
        await scheduler.dispatch_due()
        assert sum(probe.started.values()) == 2
        await scheduler.stop(grace_s=2)
    finally:
        await db.dispose()


async def test_a_driver_that_declines_gets_a_task(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    probe = Driven(delay=0.05)
    probe.decline = True
    scheduler, db = make(monkeypatch, url, probe)
    try:
        schedule(scheduler, spec(3))
        await scheduler.dispatch_due()
        assert isinstance(scheduler.in_flight()[3], asyncio.Task)
        await scheduler.idle()
        assert probe.collected[3] == 1
        assert not probe.started
    finally:
        await db.dispose()


async def test_stop_waits_for_driven_rounds_and_drops_what_comes_after(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    probe = Driven(delay=0.3)
    scheduler, db = make(monkeypatch, url, probe)
    try:
        scheduler.scheduler.start()
        schedule(scheduler, spec(7))
        await scheduler.dispatch_due()
        assert probe.started[7] == 1
        await scheduler.stop(grace_s=5)
        assert not scheduler.in_flight()
        assert [r.device_id for r in await stored(db)] == [7]  # the round's result was kept

        late = Driven(delay=0.5)
        scheduler, db2 = make(monkeypatch, url, late)
        try:
            scheduler.scheduler.start()
            schedule(scheduler, spec(8))
            await scheduler.dispatch_due()
            started = time.monotonic()
            await scheduler.stop(grace_s=0.1)  # the round outlasts the grace time
            assert time.monotonic() - started < 0.4
            await asyncio.sleep(0.6)  # it ends after the final flush: dropped, no error
            await scheduler.engine.flush()
            assert [r.device_id for r in await stored(db2)] == [7]
        finally:
            await db2.dispose()
    finally:
        await db.dispose()
