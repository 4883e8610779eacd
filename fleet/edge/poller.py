"""The edge poller's loop: its targets from central (kept in its file, so a restart with the
uplink down probes on), each device's rounds on the central scheduler's schedule code and
``probe_once``, every round into the buffer, and the buffer sent to central.

Sending rule: the buffer leaves oldest first (by time, then as added), in batches of
``edge_batch_size`` sent back to back while any is left, so each device's rounds reach central
in order and the live state there moves through them at their own times; once the backlog is
gone, a round is sent as soon as it ends. A batch central did not take waits and goes again,
after a backoff that doubles up to ``edge_backoff_max_s``; one it refused for good (a device
no longer at the token's sites) is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from typing import Any

from fleet.edge.buffer import EdgeStore, Targets
from fleet.edge.central import Central, Refused, Unreachable
from fleet.logging import get_logger
from fleet.probes.edge_wire import reading_document, spec_of
from fleet.probes.schedule import Schedule
from fleet.probes.service import probe_once
from fleet.probes.targets import DeviceProbes
from fleet.settings import Settings

log = get_logger("fleet.edge")
#: How often due rounds are started.
DISPATCH_EVERY_S = 0.1
STOP_GRACE_S = 5.0


class EdgePoller:
    def __init__(self, settings: Settings, store: EdgeStore, central: Central) -> None:
        self.settings, self.store, self.central = settings, store, central
        self.schedule = Schedule(
            settings.probe_concurrency, settings.probe_site_concurrency, settings.probe_jitter_s
        )
        self.specs: dict[int, DeviceProbes] = {}
        self.interval_s = float(settings.probe_interval_s)
        self.etag: str | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._added = asyncio.Event()

    def apply(self, targets: Targets) -> None:
        """Probe these targets from now on: new or changed devices soon, gone ones no more."""
        self.etag, self.interval_s = targets.etag, float(targets.probe_interval_s)
        wanted = {spec.device_id: spec for spec in map(spec_of, targets.devices)}
        now = asyncio.get_running_loop().time()
        for device_id in set(self.specs) - set(wanted):
            del self.specs[device_id]
            self.schedule.drop(device_id)
        for device_id, spec in wanted.items():
            old = self.specs.get(device_id)
            if old is not None and old.fingerprint() == spec.fingerprint():
                continue
            self.specs[device_id] = spec
            soon = random.uniform(0, min(self._interval(spec), 1.0))  # noqa: S311
            self.schedule.plan(device_id, now + soon)
        log.info("edge_targets", devices=len(self.specs))

    def _interval(self, spec: DeviceProbes) -> float:
        return float(spec.interval_s or self.interval_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Probe, buffer and send until ``stop`` is set."""
        saved = self.store.targets()
        if saved is not None:
            self.apply(saved)
        loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self._refresh,
            self._dispatch,
            self._send,
            self._beat,
        ]
        tasks = [asyncio.create_task(loop()) for loop in loops]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            rounds = list(self._inflight.values())
            if rounds:
                await asyncio.wait(rounds, timeout=STOP_GRACE_S)

    async def _refresh(self) -> None:
        """Read the targets now, then every ``edge_refresh_s`` (every few seconds until the
        first read when there are none yet)."""
        while True:
            try:
                targets = await self.central.targets(self.etag)
            except (Unreachable, Refused) as exc:
                log.warning("edge_targets_unread", reason=str(exc))
                await asyncio.sleep(2.0 if self.etag is None else self.settings.edge_refresh_s)
                continue
            if targets is not None:
                self.store.save_targets(targets)
                self.apply(targets)
            await asyncio.sleep(self.settings.edge_refresh_s)

    async def _dispatch(self) -> None:
        specs = self.specs

        def site_of(device_id: int) -> int | None:
            spec = specs.get(device_id)
            return None if spec is None else spec.site_id

        while True:
            now = asyncio.get_running_loop().time()
            for _, plan, device_id, base in self.schedule.ready(now, site_of, self._inflight):
                spec = specs[device_id]
                self.schedule.advance(device_id, plan, base, self._interval(spec), now)
                if device_id not in self._inflight:
                    self._inflight[device_id] = asyncio.create_task(self._round(spec))
            await asyncio.sleep(DISPATCH_EVERY_S)

    async def _round(self, spec: DeviceProbes) -> None:
        """One round of a device, under the limits, into the buffer."""
        try:
            readings = await self.schedule.run_limited(
                spec.site_id, lambda: probe_once(spec, self.settings)
            )
            at = min(reading.started_at for reading in readings)
            dropped = self.store.add(
                spec.device_id, at, [reading_document(reading) for reading in readings]
            )
            if dropped:
                log.warning("edge_buffer_dropped", rounds=dropped)
            self._added.set()
        except Exception:  # a round never stops the poller
            log.exception("edge_round_failed", device_id=spec.device_id)
        finally:
            self._inflight.pop(spec.device_id, None)

    async def _send(self) -> None:
        backoff = 1.0
        while True:
            batch = self.store.batch(self.settings.edge_batch_size)
            if not batch:
                self._added.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._added.wait(), 1.0)
                continue
            ids = [row_id for row_id, _ in batch]
            try:
                stored = await self.central.send([document for _, document in batch])
            except Unreachable as exc:
                log.info("edge_send_waits", reason=str(exc), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.edge_backoff_max_s)
                continue
            except Refused as exc:
                log.error("edge_batch_refused", reason=str(exc), rounds=len(ids))
                self.store.remove(ids)
                self.store.count_dropped(len(ids))
                continue
            backoff = 1.0
            self.store.remove(ids)
            log.debug("edge_batch_sent", **stored)

    async def _beat(self) -> None:
        while True:
            try:
                await self.central.beat(self.store.depth(), self.settings.edge_buffer_max_age_s)
            except (Unreachable, Refused) as exc:
                log.info("edge_heartbeat_unsent", reason=str(exc))
            await asyncio.sleep(self.settings.edge_heartbeat_s)
