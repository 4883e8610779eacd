"""What the other layers ask of the probes: one round of a device's probes (``probe_once``),
the device's probes if any can run (``runnable``), and a round now, recorded as scheduled
rounds are (``probe_now``); and the SSH host key pinned on first contact (``pin_host_key``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import context
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.inventory import service
from fleet.inventory.credentials import Cipher
from fleet.inventory.models import Device
from fleet.inventory.resources import DEVICE
from fleet.logging import get_logger
from fleet.probes import targets
from fleet.probes.base import probe_for, run_probe
from fleet.probes.store import result_row
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import Reading
from fleet.settings import Settings

log = get_logger("fleet.scheduler")
#: Who the change log says pinned a host key.
SCHEDULER = "scheduler"

if TYPE_CHECKING:
    from fleet.probes.scheduler import ProbeScheduler


async def probe_once(spec: DeviceProbes, settings: Settings) -> list[Reading]:
    """One round of a device's probes, each with the settings' timeout and retries, never
    raising: one probe (the usual case) runs in this task, several side by side."""
    polls = [
        run_probe(
            probe_for(kind, settings),
            spec.target,
            settings.probe_timeout_s,
            retries=settings.probe_retries,
        )
        for kind in spec.kinds
    ]
    if len(polls) == 1:
        return [await polls[0]]
    return list(await asyncio.gather(*polls))


async def runnable(session: AsyncSession, cipher: Cipher, device_id: int) -> DeviceProbes:
    """The device's probes, or ``InvalidInput`` (field ``probes``) saying why none can run."""
    specs = await targets.load(session, cipher, [device_id])
    if specs and specs[0].kinds:
        return specs[0]
    problems = specs[0].problems if specs else ()
    why = "; ".join(problems) if problems else "set its probes, address and lifecycle"
    raise InvalidInput(f"the device has no probe that can run ({why})", field="probes")


async def probe_now(
    db: Database, settings: Settings, spec: DeviceProbes, scheduler: ProbeScheduler | None
) -> list[Reading]:
    """A round of the device's probes now. With the process's scheduler, under its limits and
    observed by its status engine (results and changes of state recorded as for scheduled
    rounds); without one, or when another worker probes the device's site, its results are
    recorded."""
    if scheduler is not None and (observed := await scheduler.probe_now(spec)) is not None:
        return observed
    readings = await probe_once(spec, settings)
    async with db.session(write=True) as session:
        session.add_all([result_row(r) for r in readings])
        await session.commit()
    return readings


async def pin_host_key(db: Database, spec: DeviceProbes, readings: list[Reading]) -> None:
    """Pin a device's SSH host key on first contact (trust on first use), in the change log,
    by the scheduler."""
    seen = next((r.host_key for r in readings if r.kind == "ssh" and r.ok and r.host_key), None)
    if seen is None:
        return
    with context.acting_as(SCHEDULER):
        async with db.session(write=True) as session:
            version = await session.scalar(
                sa.select(col(Device.version)).where(col(Device.id) == spec.device_id)
            )
            if version is None:
                return
            await service.update(
                session, DEVICE, spec.device_id, {"ssh_host_key": seen}, service.etag(version)
            )
            await session.commit()
    log.info("host_key_pinned", device=spec.serial)
