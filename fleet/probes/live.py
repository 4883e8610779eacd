"""The live view for Prometheus: sites, devices and links by state, read from the database at
each scrape, so that it is the same in every API process and whichever process probes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.database import Database
from fleet.inventory.choices import DeviceLifecycle, LinkLifecycle
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.probes.choices import SITE_STATES
from fleet.probes.models import ObjectStatus, status_of
from fleet.probes.status import CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN
from fleet.probes.workers import worker_metrics

#: A site's connectivity as one number, for map panels and alert thresholds.
STATE_CODES = {CONNECTED: 2, DEGRADED: 1, DISCONNECTED: 0, MAINTENANCE: -1, UNKNOWN: -2}
SITE_LABELS = ["site", "country", "kind"]


async def live_view(db: Database, lease_s: float = 30) -> list[Metric]:
    """Sites, devices and links by state, and the probe workers sharing the fleet (alive when
    heard from within ``lease_s``), as read from the database now."""
    async with db.session() as session:
        return [
            *await _sites(session),
            await _devices(session),
            await _links(session),
            *await worker_metrics(session, lease_s),
        ]


async def _sites(session: AsyncSession) -> list[Metric]:
    info = GaugeMetricFamily(
        "fleet_site_info",
        "A site of the inventory (always 1), with its name and coordinates for map panels.",
        labels=[*SITE_LABELS, "name", "latitude", "longitude"],
    )
    connectivity = GaugeMetricFamily(
        "fleet_site_connectivity",
        "A site's connectivity: 2 connected, 1 degraded (backup link or devices down), "
        "0 disconnected, -1 maintenance, -2 unknown.",
        labels=SITE_LABELS,
    )
    site_state = GaugeMetricFamily(
        "fleet_site_state",
        "1 for the state a site is in, 0 for the others.",
        labels=[*SITE_LABELS, "state"],
    )
    since = GaugeMetricFamily(
        "fleet_site_state_since_seconds",
        "When a site entered its current state (Unix time); absent while unknown.",
        labels=SITE_LABELS,
    )
    counts: dict[tuple[str, str, str], int] = {}
    for code, country, kind, name, latitude, longitude, state, entered in await _site_rows(session):
        state = state or UNKNOWN
        labels = [code, country, kind]
        info.add_metric([*labels, name, f"{latitude:.6f}", f"{longitude:.6f}"], 1)
        connectivity.add_metric(labels, STATE_CODES.get(state, -2))
        for candidate in SITE_STATES:
            site_state.add_metric([*labels, candidate], 1 if state == candidate else 0)
        if entered is not None and state != UNKNOWN:
            since.add_metric(labels, entered.timestamp())
        counts[(country, kind, state)] = counts.get((country, kind, state), 0) + 1
    sites = GaugeMetricFamily(
        "fleet_sites", "Sites by country, kind and state.", labels=["country", "kind", "state"]
    )
    for (country, kind, state), count in sorted(counts.items()):
        sites.add_metric([country, kind, state], count)
    return [info, connectivity, site_state, since, sites]


async def _site_rows(session: AsyncSession) -> Any:
    return await session.execute(
        sa.select(
            col(Site.code),
            col(Country.code),
            col(Site.kind),
            col(Site.name),
            col(Site.latitude),
            col(Site.longitude),
            col(ObjectStatus.state),
            col(ObjectStatus.since),
        )
        .join(Country, col(Site.country_id) == col(Country.id))
        .outerjoin(ObjectStatus, status_of("site", col(Site.id)))
        .where(col(Site.lifecycle) != "decommissioned")
        .order_by(col(Site.code))
    )


def _state() -> Any:
    return sa.func.coalesce(col(ObjectStatus.state), UNKNOWN).label("state")


async def _devices(session: AsyncSession) -> Metric:
    devices = GaugeMetricFamily(
        "fleet_devices",
        "Installed, active and faulty devices by kind and state.",
        labels=["kind", "state"],
    )
    state = _state()
    rows: Any = await session.execute(
        sa.select(col(DeviceModel.kind), state, sa.func.count())
        .select_from(Device)
        .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
        .outerjoin(ObjectStatus, status_of("device", col(Device.id)))
        .where(col(Device.lifecycle).in_(DeviceLifecycle.probed()))
        .group_by(col(DeviceModel.kind), state)
        .order_by(col(DeviceModel.kind), state)
    )
    for kind, value, count in rows:
        devices.add_metric([kind, value], count)
    return devices


async def _links(session: AsyncSession) -> Metric:
    links = GaugeMetricFamily(
        "fleet_links", "Active links by medium, role and state.", labels=["medium", "role", "state"]
    )
    state = _state()
    rows: Any = await session.execute(
        sa.select(col(Link.medium), col(Link.role), state, sa.func.count())
        .select_from(Link)
        .outerjoin(ObjectStatus, status_of("link", col(Link.id)))
        .where(col(Link.lifecycle) == LinkLifecycle.active)
        .group_by(col(Link.medium), col(Link.role), state)
        .order_by(col(Link.medium), col(Link.role), state)
    )
    for medium, role, value, count in rows:
        links.add_metric([medium, role, value], count)
    return links
