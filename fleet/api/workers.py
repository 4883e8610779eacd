"""The probe workers sharing the fleet through site leases (PostgreSQL), over HTTP."""

from __future__ import annotations

from typing import Any

from litestar import get
from pydantic import Field

from fleet.api.openapi import problem_responses
from fleet.api.representations import answer, columns, items_of
from fleet.database import Database
from fleet.probes.models import ProbeWorker
from fleet.probes.workers import FIELDS, workers
from fleet.settings import Settings

WorkerAnswer = columns(
    "ProbeWorker",
    "A probe scheduler sharing the fleet: what it holds and how late its rounds start, as of "
    "its last heartbeat.",
    ProbeWorker,
    FIELDS,
    alive=(bool, Field(description="Heard from within the lease time and not stopped")),
    heartbeat_age_s=(float, Field(description="Seconds since its last heartbeat")),
)
WorkerList = items_of(
    "ProbeWorkerList", "Every worker heard from in the last day.", WorkerAnswer, paged=False
)


@get(
    "/workers",
    summary="Probe workers",
    description="The schedulers that share the probing through site leases (on PostgreSQL; "
    "none on SQLite, where the one scheduler probes everything), each with the sites and "
    "devices it holds, its last heartbeat and its lag; a dead one shows `alive: false` until "
    "it has been silent for a day.",
    operation_id="list_probe_workers",
    tags=["status"],
    opt={"permission": "worker:read"},
    responses=answer(WorkerList, "Every worker heard from in the last day")
    | problem_responses(401, 403),
)
async def list_probe_workers(db: Database, settings: Settings) -> dict[str, Any]:
    async with db.session() as session:
        return {"items": await workers(session, settings.probe_lease_s)}
