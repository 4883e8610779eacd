"""Helpers of the probe scheduler's tests: a device probed by TCP, devices made due at once,
and dispatch as the dispatch job does it."""

from __future__ import annotations

import asyncio
import time

from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import ProbeTarget


def tcp_spec(device_id: int, site_id: int = 1, interval_s: int | None = None) -> DeviceProbes:
    return DeviceProbes(
        device_id=device_id,
        site_id=site_id,
        serial=f"SN-{device_id}",
        kinds=("tcp",),
        interval_s=interval_s,
        target=ProbeTarget(device_id, "127.0.0.1", 9),
    )


def schedule(scheduler: ProbeScheduler, *specs: DeviceProbes) -> None:
    """The devices of ``specs`` known to the scheduler, each due at once."""
    for spec in specs:
        scheduler.specs[spec.device_id] = spec
        scheduler.plan(spec.device_id, 0.0)


async def run_for(scheduler: ProbeScheduler, seconds: float) -> None:
    """Dispatch as the dispatch job does, every 10 ms, then let the rounds in flight end."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await scheduler.dispatch_due()
        await asyncio.sleep(0.01)
    await scheduler.idle()
