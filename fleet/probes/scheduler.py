"""The probe scheduler: every probed device runs on its own interval (with jitter), under a
global and a per-site concurrency limit, with a timeout and bounded retries per probe. A slow or
dead device only ever holds its own round and its site's slots.

APScheduler runs the scheduler's jobs: a *dispatch* job every :data:`DISPATCH_EVERY_S` starts
the rounds that are due, the reconcile, the flush of results and states, and the purge of old
results. The devices' own schedules are a heap of due times: each device's next round is its
last planned one plus its interval (plus jitter), and a round still running when the next is
due is skipped (counted in ``missed``), never doubled. Keeping the schedules in a heap rather
than as one APScheduler job per device costs one dispatch per tick instead of one per round,
so a busy scheduler spends its time probing; several workers will share a fleet by dividing
its devices among them, not its jobs.

A round of a device with one probe whose driver can run it on callbacks (``start``: gufo-snmp's
v2c poll) is *driven*: no task, no coroutine, the limits taken at once; other rounds run as
tasks. A due round whose site is at its limit waits in that site's queue, one that finds the
scheduler at its global limit stays due; either starts as soon as a round ends.

Schedules follow the inventory: a reconcile job compares a cheap fingerprint of the inventory
every few seconds and, when it moved, reloads the targets and the topology and plans, re-plans
or drops devices. Unreachable devices are probed ``unreachable_backoff`` times less often.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.limits import Limit
from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.probes import edge, metrics, targets
from fleet.probes.base import probe_for
from fleet.probes.driven import DrivenRound
from fleet.probes.jobs import tracked as _tracked
from fleet.probes.schedule import Schedule
from fleet.probes.service import pin_host_key, probe_once
from fleet.probes.sharing import Sharing
from fleet.probes.status import StatusEngine
from fleet.probes.types import Reading
from fleet.settings import Settings

log = get_logger("fleet.scheduler")
FLUSH_EVERY_S = 1.0
#: How often due rounds are started: the most a round starts late on an idle scheduler.
DISPATCH_EVERY_S = 0.1
STOP_GRACE_S = 5.0


class ProbeScheduler:
    def __init__(self, db: Database, settings: Settings, cipher: Cipher) -> None:
        self.db = db
        self.settings = settings
        self.cipher = cipher
        self.engine = StatusEngine(
            db,
            confirmations=settings.state_confirmations,
            on_device_state=self.device_state_changed,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.specs: dict[int, targets.DeviceProbes] = {}
        self.schedule = Schedule(
            settings.probe_concurrency, settings.probe_site_concurrency, settings.probe_jitter_s
        )
        self._fingerprint: tuple[Any, ...] | None = None
        self._lateness: list[float] = []
        self._rounds = 0
        self._last_report = time.monotonic()
        self._reconcile_lock = asyncio.Lock()
        self._backed_off: set[int] = set()
        self._running: set[asyncio.Task[Any]] = set()
        # the rounds running, by device: a task, or None for a round driven by its driver's
        # callbacks (see _start_driven)
        self._inflight: dict[int, asyncio.Task[None] | None] = {}
        self._closed = False  # stopped: what driven rounds still report is dropped
        self._driven = 0  # driven rounds running
        self._waiting = False  # rounds are due that the limits held back
        self._paused = False  # pause(): no round starts until resume()
        self._wake_armed = False  # a start of the due rounds is on its way
        self._driven_done: asyncio.Event | None = None  # set when none runs any more (stop)
        self.missed = 0  # rounds skipped because the device's previous round was still running
        self.sharing = Sharing(self) if settings.shares_probes else None  # of the sites

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._closed = self._paused = False
        await self.engine.load()
        self.scheduler.start()
        if self.sharing is not None:
            await self.sharing.start()
        await self.reconcile(force=True)
        jobs: list[tuple[Callable[[], Awaitable[Any]], str, IntervalTrigger]] = [
            (self.share, "share", IntervalTrigger(seconds=self.settings.probe_heartbeat_s)),
            (self.dispatch_due, "dispatch", IntervalTrigger(seconds=DISPATCH_EVERY_S)),
            (
                self.reconcile,
                "reconcile",
                IntervalTrigger(seconds=self.settings.reconcile_interval_s),
            ),
            (self._flush, "flush", IntervalTrigger(seconds=FLUSH_EVERY_S)),
        ]
        for func, job_id, trigger in jobs:
            self.scheduler.add_job(func, trigger, id=job_id, max_instances=1, coalesce=True)
        self.scheduler.add_job(
            self.purge,
            IntervalTrigger(hours=1),
            id="purge",
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow() + timedelta(seconds=30),
        )
        log.info("scheduler_started", devices=len(self.specs))

    def pause(self) -> None:
        """Start no more rounds (those in flight go on) until :meth:`resume`."""
        self._paused = True
        if self.scheduler.running:
            self.scheduler.pause()

    def resume(self) -> None:
        self._paused = False
        if self.scheduler.running:
            self.scheduler.resume()

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Start nothing more, give the jobs and rounds still running ``grace_s`` to end (one
        cancelled inside a database call can leave its connection hanging), cancel what is
        left, then store what the rounds saw."""
        self.pause()
        loop = asyncio.get_running_loop()
        until = loop.time() + grace_s
        running = {task for task in self._tasks() if not task.done()}
        if running:
            await asyncio.wait(running, timeout=grace_s)
        with contextlib.suppress(TimeoutError):  # driven rounds end by their drivers' deadlines
            await asyncio.wait_for(self._driven_ended(), max(0.0, until - loop.time()))
        self.scheduler.shutdown(wait=False)
        left = {task for task in self._tasks() if not task.done()}
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=grace_s)
            log.warning("scheduler_stopped_jobs", cancelled=len(left))
        self._closed = True
        await self.engine.flush()
        if self.sharing is not None:
            await self.sharing.stop()

    async def _driven_ended(self) -> None:
        while self._driven:
            self._driven_done = asyncio.Event()
            await self._driven_done.wait()

    async def idle(self) -> None:
        """Wait until no round is in flight (:meth:`pause` first, or it may never end)."""
        while self._inflight:
            tasks = self._tasks() - self._running
            if tasks:
                await asyncio.wait(tasks)
            await self._driven_ended()

    def _tasks(self) -> set[asyncio.Task[Any]]:
        return self._running | {task for task in self._inflight.values() if task is not None}

    # --- schedules --------------------------------------------------------------------

    def interval_of(self, spec: targets.DeviceProbes) -> float:
        interval = float(spec.interval_s or self.settings.probe_interval_s)
        if spec.device_id in self._backed_off:
            interval *= self.settings.unreachable_backoff
        return interval

    def plan(self, device_id: int, delay: float) -> None:
        """(Re)plan a device of ``specs``: its next round in ``delay`` seconds (plus jitter),
        then every interval; a previous plan of the device is dropped."""
        self.schedule.plan(device_id, asyncio.get_running_loop().time() + delay)

    def planned(self) -> set[int]:
        """The devices with a schedule."""
        return self.schedule.planned()

    def drop(self, device_id: int) -> None:
        """Drop a device's schedule (a round of it in flight goes on)."""
        self.schedule.drop(device_id)

    async def dispatch_due(self) -> None:
        """Start every round that is due, and plan each device's next one (the dispatch job;
        tests step the scheduler with it)."""
        self._start_due()

    def in_flight(self) -> dict[int, asyncio.Task[None] | None]:
        """The rounds running, by device: its task, or None for a driven round."""
        return dict(self._inflight)

    def _start_due(self) -> None:
        """Start the rounds that are due and have room under the limits (see
        :meth:`Schedule.ready`); those the limits hold start as soon as a round ends and frees
        a slot, not in a task of their own waiting for one."""
        self._wake_armed = False
        if self._paused:
            return
        now = asyncio.get_running_loop().time()
        specs = self.specs

        def site_of(device_id: int) -> int | None:
            spec = specs.get(device_id)
            return None if spec is None else spec.site_id

        for at, plan, device_id, base in self.schedule.ready(now, site_of, self._inflight):
            self._launch(at, plan, device_id, specs[device_id], base, now)
        self._waiting = self.schedule.waiting(now)

    def _launch(
        self,
        at: float,
        plan: int,
        device_id: int,
        spec: targets.DeviceProbes,
        base: float,
        now: float,
    ) -> None:
        """Plan the device's next round, then start this one (unless the last still runs)."""
        self.schedule.advance(device_id, plan, base, self.interval_of(spec), now)
        if device_id in self._inflight:
            self.missed += 1
            return
        lateness = now - at
        self._lateness.append(lateness)
        metrics.observe_lateness(lateness)
        if not self._start_driven(device_id, spec):
            self._inflight[device_id] = asyncio.get_running_loop().create_task(
                self._round(device_id)
            )

    def _slot_freed(self) -> None:
        """A round ended: start the rounds that were waiting for its slot (soon, not inside
        the driver's callback that ended it)."""
        if self._waiting and not self._wake_armed and not self._paused:
            self._wake_armed = True
            asyncio.get_running_loop().call_soon(self._start_due)

    async def _round(self, device_id: int) -> None:
        try:
            await self.run_device(device_id)
        except Exception:  # a round never raises by design; say so if one does
            log.exception("probe_round_failed", device_id=device_id)
        finally:
            self._end_round(device_id)

    def _start_driven(self, device_id: int, spec: targets.DeviceProbes) -> bool:
        """Start a round driven by its driver's callbacks, when the device has one probe whose
        driver can (``start``, e.g. gufo-snmp's v2c poll) and the limits have room at once:
        no task, no coroutines. The same round as ``run_device``: under the limits, retried
        as ``run_probe`` would, observed by the status engine. False: run it as a task."""
        if len(spec.kinds) != 1:
            return False
        start: Callable[..., bool] | None = getattr(
            probe_for(spec.kinds[0], self.settings), "start", None
        )
        if start is None:
            return False
        overall, site = self.schedule.overall, self.schedule.sites[spec.site_id]
        if not overall.try_acquire():
            return False
        if not site.try_acquire():
            overall.release()
            return False
        self._inflight[device_id] = None
        self._driven += 1
        settings = self.settings
        driven = DrivenRound(
            spec.target,
            start,
            settings.probe_timeout_s,
            settings.probe_retries,
            end=functools.partial(self._driven_end, device_id, site),
            may_retry=lambda: not self._closed,
        )
        if driven.start():
            return True
        self._inflight.pop(device_id, None)
        self._driven -= 1
        site.release()
        overall.release()
        return False

    def _driven_end(self, device_id: int, site: Limit, reading: Reading) -> None:
        site.release()
        self.schedule.overall.release()
        self._driven -= 1
        if not self._driven and self._driven_done is not None:
            self._driven_done.set()
        if self._closed:  # stopped: the final flush is done
            self._end_round(device_id)
            return
        try:
            readings = [reading]
            metrics.observe_readings(readings)
            self._observe(device_id, readings)
        except Exception:  # never into the driver's callback
            log.exception("probe_round_failed", device_id=device_id)
        finally:
            self._end_round(device_id)

    def _observe(self, device_id: int, readings: list[Reading]) -> None:
        """What every scheduled round ends with, driven or a task: the status engine sees it."""
        self.engine.observe(device_id, readings)
        self._rounds += 1

    def _end_round(self, device_id: int) -> None:
        """The end of every scheduled round, driven or a task: its slot goes to a waiting one."""
        self._inflight.pop(device_id, None)
        self._slot_freed()

    @_tracked
    async def reconcile(self, *, force: bool = False) -> None:
        """Bring schedules and topology in line with the inventory, if it changed."""
        async with self._reconcile_lock:
            fingerprint = await edge.fingerprint(self.db)  # with the sites edges serve
            if not force and fingerprint == self._fingerprint:
                return
            self._fingerprint = fingerprint
            if self.sharing is not None and not force:
                await self.sharing.beat()  # new sites are leased at once
            async with self.db.session() as session:
                wanted = await edge.central_specs(session, self.cipher, self.engine)
            if self.sharing is not None:
                holds = self.sharing.holds
                wanted = {d: s for d, s in wanted.items() if holds(s.site_id)}
            await self.engine.reload_topology()
            for device_id in set(self.specs) - set(wanted):
                self.specs.pop(device_id, None)
                self.drop(device_id)
            for device_id, spec in wanted.items():
                old = self.specs.get(device_id)
                if old is not None and old.fingerprint() == spec.fingerprint():
                    continue
                self.specs[device_id] = spec
                self.plan(device_id, self._first_round(spec))
                for problem in spec.problems:
                    log.warning("probe_not_runnable", device=spec.serial, problem=problem)
            log.info("schedules_reconciled", devices=len(self.specs))

    def _first_round(self, spec: targets.DeviceProbes) -> float:
        """A new device's first round: soon, or an interval after its last stored result."""
        interval = self.interval_of(spec)
        later = self.sharing.first_round(spec.device_id, interval) if self.sharing else None
        if later is not None:
            return later
        return random.uniform(0, min(interval, 1 + self.settings.probe_jitter_s))  # noqa: S311

    @_tracked
    async def share(self) -> None:
        """Renew this worker's leases, take and hand back sites (when it shares the fleet)."""
        if self.sharing is not None and not self._paused:
            if await self.sharing.beat():
                await self.reconcile(force=True)  # exactly the held sites' devices
            await self.sharing.hand_back()

    def device_state_changed(self, device_id: int, cut_off: bool) -> None:
        """The status engine's word that a device was cut off with its site, or no longer:
        its rounds come ``unreachable_backoff`` times less often, or as usual again."""
        if cut_off == (device_id in self._backed_off):
            return
        if cut_off:
            self._backed_off.add(device_id)
        else:
            self._backed_off.discard(device_id)
        spec = self.specs.get(device_id)
        if spec is not None and device_id in self.schedule:
            self.plan(device_id, self.interval_of(spec))

    # --- probing ----------------------------------------------------------------------

    async def probe(self, spec: targets.DeviceProbes) -> list[Reading]:
        """One round of a device's probes, each under the limits, never raising."""
        readings = await self.schedule.run_limited(
            spec.site_id, lambda: probe_once(spec, self.settings)
        )
        metrics.observe_readings(readings)
        return readings

    async def probe_now(self, spec: targets.DeviceProbes) -> list[Reading] | None:
        """A round of a device now (asked for), observed and written at once; None when
        another worker sharing the fleet probes its site."""
        await self.reconcile()  # knows the device (and leases its site) if added a moment ago
        if not self.engine.keeps(spec.site_id):
            return None
        readings = await self.probe(spec)
        self.engine.observe(spec.device_id, readings)
        await self.engine.flush()
        return readings

    async def run_device(self, device_id: int) -> list[Reading]:
        """One round of a device's probes, observed by the status engine."""
        spec = self.specs.get(device_id)
        if spec is None or not spec.kinds:
            return []
        readings = await self.probe(spec)
        self._observe(device_id, readings)
        ssh = spec.target.ssh
        if ssh is not None and ssh.host_key is None:
            await pin_host_key(self.db, spec, readings)
        return readings

    # --- housekeeping -----------------------------------------------------------------

    @_tracked
    async def _flush(self) -> None:
        await self.engine.flush()
        now = time.monotonic()
        if now - self._last_report >= 60 and self._lateness:
            late = sorted(self._lateness)
            log.info(
                "probe_cycle",
                rounds=self._rounds,
                lateness_p50_s=round(statistics.median(late), 3),
                lateness_max_s=round(late[-1], 3),
            )
            self._lateness, self._rounds, self._last_report = [], 0, now

    def lateness(self) -> list[float]:
        return list(self._lateness)

    @_tracked
    async def purge(self) -> int:
        """Delete the results older than the retention; how many went."""
        return await self.engine.purge(
            utcnow() - timedelta(days=self.settings.result_retention_days)
        )
