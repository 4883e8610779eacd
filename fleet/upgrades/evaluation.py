"""What verified work changed: a site's availability in the days before the work started and
in the days after it was verified."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from fleet.inventory.models import Country, Site
from fleet.models import utcnow
from fleet.probes.availability import availability
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import WorkOrder


class BeforeAfter(TypedDict):
    """A verified work order and its site's availability around the work (null: no data)."""

    work_order: int
    site: str
    country: str
    title: str
    started_at: datetime
    verified_at: datetime
    availability_before: float | None
    availability_after: float | None


def verified_orders() -> Any:
    """Verified work orders with their site and country codes, oldest verification first."""
    return (
        sa.select(WorkOrder, col(Site.code).label("site"), col(Country.code).label("country"))
        .join(Site, col(WorkOrder.site_id) == col(Site.id))
        .join(Country, col(Site.country_id) == col(Country.id))
        .where(col(WorkOrder.state) == WorkOrderState.verified)
        .order_by(col(WorkOrder.verified_at))
    )


async def before_and_after(session: AsyncSession, statement: Any, days: int) -> list[BeforeAfter]:
    """One row per order of ``statement`` (a narrowing of :func:`verified_orders`)."""
    items = []
    for order, site, country in (await session.execute(statement)).all():
        started = order.started_at or order.created_at
        verified = order.verified_at or order.updated_at
        before = await availability(
            session, "site", order.site_id, started - timedelta(days=days), started
        )
        until = min(verified + timedelta(days=days), utcnow())
        after = (
            await availability(session, "site", order.site_id, verified, until)
            if until > verified
            else {"availability": None}
        )
        items.append(
            BeforeAfter(
                work_order=order.id,
                site=site,
                country=country,
                title=order.title,
                started_at=started,
                verified_at=verified,
                availability_before=before["availability"],
                availability_after=after["availability"],
            )
        )
    return items
