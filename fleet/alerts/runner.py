"""The alerts' periodic work in one process: the evaluation every ``alert_interval_s`` and the
outbox every ``alert_delivery_poll_s``, as two tasks apart from the probes (an evaluation or a
slow receiver never holds a probe round). It runs where the probe scheduler runs: ``fleet
serve`` with its scheduler, or ``fleet worker``; on PostgreSQL several such processes may run,
the evaluation's advisory lock and the outbox's row claims keep each alert and message single."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fleet.alerts.delivery import Outbox
from fleet.alerts.evaluate import evaluate
from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.logging import get_logger
from fleet.settings import Settings

log = get_logger("fleet.alerts")


class AlertRunner:
    def __init__(self, db: Database, settings: Settings, cipher: Cipher) -> None:
        self.db = db
        self.settings = settings
        self.outbox = Outbox(db, settings, cipher)
        self._tasks: list[asyncio.Task[None]] = []

    async def evaluate_now(self) -> None:
        outcome = await evaluate(self.db, max_delivery_s=self.settings.alert_delivery_max_s)
        if outcome is not None and (outcome.opened or outcome.resolved):
            log.info(
                "alerts_evaluated",
                opened=len(outcome.opened),
                resolved=len(outcome.resolved),
                queued=outcome.queued,
            )

    async def deliver_now(self) -> None:
        await self.outbox.run_once()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.settings.alert_interval_s, self.evaluate_now)),
            asyncio.create_task(self._every(self.settings.alert_delivery_poll_s, self.deliver_now)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.outbox.close()

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed run is logged; the next one comes
                log.warning(
                    "alerts_job_failed", job=job.__name__, error=f"{type(exc).__name__}: {exc}"
                )
            await asyncio.sleep(seconds)
