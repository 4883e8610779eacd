"""The objects files are attached to, found within the token's country scope exactly as their
own routes find them: a site by its code, a device or a work order by its id; outside the scope
they are not found (404), and neither are their attachments."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.attachments.models import Attachment
from fleet.attachments.service import Owner
from fleet.errors import NotFound
from fleet.inventory.models import Country, Device, Site
from fleet.models import fits_int32
from fleet.upgrades.models import WorkOrder

Scope = frozenset[str] | None

#: The table of each owner type, and the path parameter that names one.
TABLES: dict[str, tuple[Any, str]] = {
    "site": (Site, "code"),
    "device": (Device, "device_id"),
    "work_order": (WorkOrder, "order_id"),
}


def _select(object_type: str) -> Any:
    """The owner's id, key (a site's code), site id and country code."""
    table, _ = TABLES[object_type]
    site_id = col(Site.id) if table is Site else col(table.site_id)
    statement = sa.select(col(table.id), col(Site.code), site_id, col(Country.code))
    if table is not Site:
        statement = statement.select_from(table).join(Site, col(table.site_id) == col(Site.id))
    return statement.join(Country, col(Site.country_id) == col(Country.id))


async def _find(
    session: AsyncSession, object_type: str, condition: Any, scope: Scope, *, lock: bool
) -> Owner | None:
    table, field = TABLES[object_type]
    statement = _select(object_type).where(condition)
    if scope is not None:
        statement = statement.where(col(Country.code).in_(sorted(scope)))
    if lock:
        statement = statement.with_for_update(of=table)
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    object_id, site_code, site_id, country = row
    key = site_code if table is Site else str(object_id)
    return Owner(object_type, key, object_id, site_id, country, field)


async def by_key(
    session: AsyncSession, object_type: str, key: str | int, scope: Scope, *, lock: bool = False
) -> Owner:
    """The owner named in a URL (``/sites/{code}``, ``/devices/{id}``, ``/work-orders/{id}``)."""
    table, _ = TABLES[object_type]
    if table is Site:
        condition = col(Site.code) == str(key)
    else:
        condition = col(table.id) == (int(key) if fits_int32(int(key)) else -1)
    owner = await _find(session, object_type, condition, scope, lock=lock)
    if owner is None:
        raise NotFound(f"no {object_type.replace('_', ' ')} {key}")
    return owner


async def of(session: AsyncSession, attachment: Attachment, scope: Scope) -> Owner:
    """The owner of ``attachment``; an attachment whose owner is outside the scope is not found."""
    table, _ = TABLES[attachment.object_type]
    object_id = {
        "site": attachment.site_id,
        "device": attachment.device_id,
        "work_order": attachment.work_order_id,
    }[attachment.object_type]
    owner = await _find(
        session, attachment.object_type, col(table.id) == object_id, scope, lock=False
    )
    if owner is None:
        raise NotFound(f"no attachment {attachment.id}")
    return owner
