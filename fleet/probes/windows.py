"""Maintenance windows, declared like the inventory resources (same API, rules and change log)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from fleet.errors import InvalidInput
from fleet.inventory import schemas
from fleet.inventory.declarations import Ref, Resource
from fleet.inventory.models import Country, Device, Site
from fleet.pagination import AnySelect, Filter, ListSpec
from fleet.probes.models import MaintenanceWindow


class MaintenanceWindowCreate(schemas.Strict):
    """Planned work: state changes are held and the time does not count against availability."""

    site: schemas.SiteCode
    device_id: schemas.Id | None = Field(
        default=None, description="Only this device of the site (default: the whole site)"
    )
    starts_at: datetime
    ends_at: datetime
    reason: Annotated[str, Field(min_length=1, max_length=500)]


MaintenanceWindowUpdate = schemas._partial(MaintenanceWindowCreate, "MaintenanceWindowUpdate", ())

WindowSite = aliased(Site, name="window_site")
WindowCountry = aliased(Country, name="window_country")


def _select() -> AnySelect:
    return (
        sa.select(
            MaintenanceWindow,
            col(WindowSite.code).label("site"),
            col(WindowCountry.code).label("country"),
        )
        .join(WindowSite, col(MaintenanceWindow.site_id) == col(WindowSite.id))
        .join(WindowCountry, col(WindowSite.country_id) == col(WindowCountry.id))
    )


async def _consistent(session: AsyncSession, window: Any) -> None:
    if window.starts_at.tzinfo is None or window.ends_at.tzinfo is None:
        raise InvalidInput("times need a time zone (e.g. 2026-12-01T08:00:00Z)", field="starts_at")
    if window.ends_at <= window.starts_at:
        raise InvalidInput("a window ends after it starts", field="ends_at")
    if window.device_id is not None:
        device = await session.get(Device, window.device_id)
        if device is None or device.site_id != window.site_id:
            raise InvalidInput("the device is not at the window's site", field="device_id")


MAINTENANCE_WINDOW = Resource(
    name="maintenance_window",
    plural="maintenance-windows",
    table=MaintenanceWindow,
    key="id",
    natural_key="id",
    fields=("site", "country", "device_id", "starts_at", "ends_at", "reason"),
    create_schema=MaintenanceWindowCreate,
    update_schema=MaintenanceWindowUpdate,
    select=_select,
    list_spec=ListSpec(
        filters={
            "site": Filter(col(WindowSite.code), "Site code(s)"),
            "country": Filter(col(WindowCountry.code), "Country code(s)"),
            "device_id": Filter(col(MaintenanceWindow.device_id), "Device id(s)", integer=True),
        },
        sorts={
            "starts_at": col(MaintenanceWindow.starts_at),
            "ends_at": col(MaintenanceWindow.ends_at),
            "id": col(MaintenanceWindow.id),
        },
        default_sort="-starts_at",
        search=(col(MaintenanceWindow.reason),),
        search_description="Text in the reason",
        id_column=col(MaintenanceWindow.id),
    ),
    country_column=col(WindowCountry.code),
    refs=(
        Ref("site", "site_id", Site, "code", "site"),
        Ref("device_id", "device_id", Device, "id", "device"),
    ),
    rules=(_consistent,),
    description="Maintenance windows of sites and devices.",
)
