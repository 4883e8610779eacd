"""A scheduler's share of the fleet, when several share one PostgreSQL (``FLEET_PROBE_LEASES``):
the sites it holds the leases of (:mod:`fleet.probes.leases`), kept in line by a beat every
``FLEET_PROBE_HEARTBEAT_S``.

At each beat the scheduler probes exactly the devices of the sites it holds. A site it takes
is adopted with the states its last holder stored, and each of its devices' first round comes
an interval after that device's last stored result, so a take-over probes nothing twice in an
interval; a device not probed for longer is probed at once. A site it hands back is first
dropped from the schedules, then what it saw there is stored, then its lease is released. A
site it lost (its lease expired, a stalled worker) is dropped at once: the fence already keeps
its late results out.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.probes.leases import Leases, Tokens, last_rounds
from fleet.probes.store import Fence

if TYPE_CHECKING:
    from fleet.probes.scheduler import ProbeScheduler

log = get_logger("fleet.sharing")


def worker_name(configured: str | None) -> str:
    """The configured name, or this host's name and process id."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class Sharing:
    def __init__(self, scheduler: ProbeScheduler) -> None:
        settings = scheduler.settings
        self.scheduler = scheduler
        self.leases = Leases(
            scheduler.db,
            worker_name(settings.worker_name),
            socket.gethostname()[:120],
            os.getpid(),
            settings.probe_lease_s,
        )
        self.held: Tokens = {}
        self._leaving: Tokens = {}  # handed back once stored: still fenced as held
        self._last: dict[int, datetime] = {}  # devices of taken sites: their last stored result
        self._lock = asyncio.Lock()
        engine = scheduler.engine
        engine.sites = set()  # none until the first beat
        engine.fence = Fence(held=self._still_held, site_of=self._site_of)

    @property
    def name(self) -> str:
        return self.leases.name

    async def start(self) -> None:
        """Say this worker is here and take its first share."""
        await self.leases.register()
        await self.beat()

    async def stop(self) -> None:
        """After the scheduler's last flush: hand every site back."""
        held, self.held = self.held, {}
        await self.leases.stop(held)

    def holds(self, site_id: int) -> bool:
        return site_id in self.held

    def first_round(self, device_id: int, interval: float) -> float | None:
        """The delay of a taken device's first round (None: not taken, plan it as usual)."""
        last = self._last.pop(device_id, None)
        if last is None:
            return None
        return max(0.0, interval - (utcnow() - last).total_seconds())

    async def beat(self) -> bool:
        """Renew, take, and name the sites to hand back; whether the held sites moved (then
        the scheduler reconciles its schedules, and hands back with :meth:`hand_back`)."""
        async with self._lock:
            return await self._beat()

    async def _beat(self) -> bool:
        scheduler, engine = self.scheduler, self.scheduler.engine
        lag = max(scheduler.lateness(), default=None)
        beat = await self.leases.beat(self.held, len(scheduler.specs), lag)
        moved = bool(beat.lost or beat.taken or beat.surplus)
        if beat.lost:
            log.warning("sites_lost", worker=self.name, sites=sorted(beat.lost))
            engine.forget(beat.lost)
        self.held = beat.held
        if beat.surplus:
            self._leaving.update({site: self.held.pop(site) for site in beat.surplus})
        if beat.taken:
            self._last.update(await last_rounds(scheduler.db, set(beat.taken)))
            self.held.update(beat.taken)
            await engine.adopt(set(beat.taken))
        if moved:
            log.info(
                "share_moved",
                worker=self.name,
                held=len(self.held),
                taken=len(beat.taken),
                handed_back=len(beat.surplus),
                workers=beat.live,
                share=beat.share,
            )
        return moved

    async def hand_back(self) -> None:
        """Once the schedules dropped them: store what the sites to hand back saw, then
        release their leases."""
        async with self._lock:
            if not self._leaving:
                return
            await self.scheduler.engine.flush()
            leaving, self._leaving = self._leaving, {}
            self.scheduler.engine.forget(set(leaving))
            await self.leases.release(leaving)

    async def _still_held(self, session: AsyncSession) -> set[int]:
        return await self.leases.fence(session, {**self.held, **self._leaving})

    def _site_of(self, device_id: int) -> int | None:
        return self.scheduler.engine.topology.site_of("device", device_id)
