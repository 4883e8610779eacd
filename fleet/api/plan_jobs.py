"""Assessments started from the planner's page: the same service as ``POST /assessments``, run
as a task of this process so that the page can show its progress (the pass's steps, as
``fleet.progress`` counts them) while it runs. A job is kept for an hour after it ends; a page
served by another process does not know it (and says so)."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from fleet.database import Database
from fleet.errors import Conflict, FleetError
from fleet.logging import get_logger
from fleet.upgrades import service as upgrades
from fleet.upgrades.assess import Summary
from fleet.upgrades.profiles import PriceList

log = get_logger("fleet.plan")
KEEP_S = 3600
MAX_JOBS = 100


@dataclass
class Job:
    """One assessment: what it covers, who started it, how far it is, and how it ended."""

    id: int
    target: str
    owner: int  # the token that started it (only its pages see it)
    label: str = "Waiting"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)

    @property
    def running(self) -> bool:
        return self.ended is None

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


@dataclass
class Jobs:
    """This process's assessments started from pages."""

    jobs: dict[int, Job] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def get(self, job_id: int, owner: int) -> Job | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            if job.ended is not None and now - job.ended > KEEP_S:
                del self.jobs[job_id]

    def start(
        self,
        db: Database,
        prices: PriceList | None,
        scope: upgrades.Scope,
        owner: int,
        target: tuple[str | None, str | None],
    ) -> Job:
        """Begin an assessment of ``target`` (country, site) within ``scope``."""
        self._forget_old()
        if sum(1 for j in self.jobs.values() if j.running) >= 2:
            raise Conflict("two assessments are running already; wait for one to end")
        if len(self.jobs) >= MAX_JOBS:
            raise Conflict("too many assessments were started in the last hour")
        country, site = target
        job = Job(next(self.ids), site or country or "every site", owner)
        self.jobs[job.id] = job
        task = asyncio.create_task(_run(db, prices, scope, country, site, job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job


async def _run(
    db: Database,
    prices: PriceList | None,
    scope: upgrades.Scope,
    country: str | None,
    site: str | None,
    job: Job,
) -> None:
    try:
        async with db.session(write=True) as session:
            summary: Summary = await upgrades.assess_within(
                session, prices, scope, country, site, progress=job
            )
            await session.commit()
        job.summary = summary.as_dict()
    except FleetError as exc:
        job.error = str(exc)
    except Exception as exc:  # the page says it failed; the log has the rest
        log.exception("assessment_failed", job=job.id)
        job.error = f"the assessment failed ({type(exc).__name__})"
    finally:
        job.ended = time.monotonic()
