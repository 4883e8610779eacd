"""The probe workers sharing the fleet, as the API, the board and ``/metrics`` show them: each
one's last report (sites and devices held, how late its rounds start) and whether it is alive
(a heartbeat within the lease time, and not stopped). Workers not heard from for a day are
forgotten (see ``fleet.probes.leases``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.models import utcnow
from fleet.probes.models import ProbeWorker

FIELDS = (
    "name",
    "host",
    "pid",
    "started_at",
    "heartbeat_at",
    "stopped_at",
    "sites_held",
    "devices_held",
    "lag_s",
)


async def workers(session: AsyncSession, lease_s: float) -> list[dict[str, Any]]:
    """Every worker heard from in the last day, by name, with ``alive`` and
    ``heartbeat_age_s``."""
    now = utcnow()
    rows = await session.scalars(sa.select(ProbeWorker).order_by(col(ProbeWorker.name)))
    shown = []
    for worker in rows:
        age = max(0.0, (now - worker.heartbeat_at).total_seconds())
        if age > 86_400:
            continue
        alive = worker.stopped_at is None and age <= lease_s
        shown.append(
            {f: getattr(worker, f) for f in FIELDS} | {"alive": alive, "heartbeat_age_s": age}
        )
    return shown


async def worker_metrics(session: AsyncSession, lease_s: float) -> list[Metric]:
    up = GaugeMetricFamily(
        "fleet_probe_worker_up",
        "1 while a probe worker sharing the fleet beats, 0 once it stopped or went silent.",
        labels=["worker", "host"],
    )
    sites = GaugeMetricFamily(
        "fleet_probe_worker_sites", "Sites a probe worker holds the leases of.", labels=["worker"]
    )
    devices = GaugeMetricFamily(
        "fleet_probe_worker_devices", "Devices a probe worker probes.", labels=["worker"]
    )
    age = GaugeMetricFamily(
        "fleet_probe_worker_heartbeat_age_seconds",
        "Time since a probe worker's last heartbeat.",
        labels=["worker"],
    )
    lag = GaugeMetricFamily(
        "fleet_probe_worker_lag_seconds",
        "How late a probe worker's rounds started at worst, as of its last heartbeat.",
        labels=["worker"],
    )
    for worker in await workers(session, lease_s):
        name = worker["name"]
        up.add_metric([name, worker["host"]], 1 if worker["alive"] else 0)
        sites.add_metric([name], worker["sites_held"] if worker["alive"] else 0)
        devices.add_metric([name], worker["devices_held"] if worker["alive"] else 0)
        age.add_metric([name], worker["heartbeat_age_s"])
        if worker["lag_s"] is not None:
            lag.add_metric([name], worker["lag_s"])
    return [up, sites, devices, age, lag]
