"""What an assessment reads: its sites, their devices, links and availability, in bulk queries.

Every table is read for the assessed sites only (their ids passed as one parameter), never with a
query per site.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from fleet import bulk
from fleet.inventory.choices import LinkLifecycle, SiteLifecycle
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.probes.choices import AVAILABLE, NOT_COUNTED, State
from fleet.probes.models import ObjectStatus, StateEvent, status_of
from fleet.upgrades.rules import DeviceFacts, LinkFacts, SiteFacts


@dataclass(frozen=True)
class Scope:
    """The sites an assessment covers, by id: the other tables are read for them only, the ids
    passed as one parameter."""

    dialect: sa.Dialect
    ids: list[int]

    def condition(self, site_id: Any) -> Any:
        return bulk.among(self.dialect, site_id, self.ids)

    def only(self, statement: Any, site_id: Any) -> Any:
        return statement.where(self.condition(site_id))


async def sites_of(connection: AsyncConnection, site_filter: Any) -> dict[int, SiteFacts]:
    """The active sites an assessment covers (all, a country's or one)."""
    sites: dict[int, SiteFacts] = {}
    rows: Any = await connection.execute(
        sa.select(
            col(Site.id), col(Site.code), col(Site.kind), col(Site.criticality), col(Country.code)
        )
        .join(Country, col(Site.country_id) == col(Country.id))
        .where(col(Site.lifecycle) == SiteLifecycle.active)
        .where(site_filter)
    )
    for site_id, code, kind, criticality, country in rows:
        sites[site_id] = SiteFacts(site_id, code, kind, criticality, country)
    return sites


async def fill(
    connection: AsyncConnection,
    sites: dict[int, SiteFacts],
    scope: Scope,
    days: set[int],
    now: datetime,
) -> None:
    """Fill in the sites' devices (with what their probes observed), links and availability."""
    await _devices(connection, sites, scope)
    await _links(connection, sites, scope)
    for window in days:
        for site_id, value in (
            await _availability(connection, scope, now - timedelta(days=window), now)
        ).items():
            sites[site_id].availability[window] = value


async def _devices(connection: AsyncConnection, sites: dict[int, SiteFacts], scope: Scope) -> None:
    """The sites' devices, with what their probes observed."""
    devices: Any = await connection.execute(
        scope.only(
            sa.select(
                col(Device.site_id),
                col(Device.serial),
                col(Device.lifecycle),
                col(Device.firmware_version),
                col(Device.probes),
                col(DeviceModel.kind),
                col(DeviceModel.slug),
                col(DeviceModel.minimum_firmware),
                col(DeviceModel.end_of_support),
                col(ObjectStatus.firmware_observed),
                col(ObjectStatus.last_ok_at),
            )
            .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
            .outerjoin(
                ObjectStatus,
                status_of("device", col(Device.id)),
            ),
            col(Device.site_id),
        )
    )
    for (
        site_id,
        serial,
        lifecycle,
        firmware,
        probes,
        kind,
        slug,
        minimum,
        eos,
        observed,
        last_ok,
    ) in devices.all():
        sites[site_id].devices.append(
            DeviceFacts(  # serial, kind, lifecycle, model, firmware, observed firmware, minimum,
                # end of support, probed, last ok
                serial,
                kind,
                lifecycle,
                slug,
                firmware,
                observed,
                minimum,
                eos,
                bool(probes),
                last_ok,
            )
        )


async def _links(connection: AsyncConnection, sites: dict[int, SiteFacts], scope: Scope) -> None:
    """The sites' active links."""
    links = await connection.execute(
        scope.only(
            sa.select(
                col(Link.site_id),
                col(Link.circuit_id),
                col(Link.medium),
                col(Link.role),
                col(Link.bandwidth_kbps),
                col(Link.encrypted),
            ).where(col(Link.lifecycle) == LinkLifecycle.active),
            col(Link.site_id),
        )
    )
    for site_id, circuit, medium, role, bandwidth, encrypted in links:
        sites[site_id].links.append(LinkFacts(circuit, medium, role, bandwidth, encrypted))


async def _availability(
    connection: AsyncConnection, scope: Scope, since: datetime, until: datetime
) -> dict[int, float | None]:
    """Every site's connectivity availability over a period, in two queries."""
    before = (
        scope.only(
            sa.select(
                col(StateEvent.object_id), sa.func.max(col(StateEvent.id)).label("last")
            ).where(col(StateEvent.object_type) == "site", col(StateEvent.at) < since),
            col(StateEvent.object_id),
        )
        .group_by(col(StateEvent.object_id))
        .subquery()
    )
    starts = await connection.execute(
        sa.select(col(StateEvent.object_id), col(StateEvent.new_state)).join(
            before, col(StateEvent.id) == before.c.last
        )
    )
    start_state = {row[0]: row[1] for row in starts}
    events: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for object_id, at, state in await connection.execute(
        scope.only(
            sa.select(col(StateEvent.object_id), col(StateEvent.at), col(StateEvent.new_state))
            .where(col(StateEvent.object_type) == "site")
            .where(col(StateEvent.at) >= since, col(StateEvent.at) < until),
            col(StateEvent.object_id),
        ).order_by(col(StateEvent.object_id), col(StateEvent.at), col(StateEvent.id))
    ):
        events[object_id].append((at, state))
    result: dict[int, float | None] = {}
    for site_id in scope.ids:
        state, start = start_state.get(site_id, State.unknown), since
        counted = available = 0.0
        for at, new_state in [*events.get(site_id, []), (until, "")]:
            seconds = max(0.0, (at - start).total_seconds())
            if state not in NOT_COUNTED:
                counted += seconds
                if state in AVAILABLE:
                    available += seconds
            state, start = new_state, at
        result[site_id] = available / counted if counted else None
    return result
