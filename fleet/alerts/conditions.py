"""What each kind of rule finds in the database now: one finding per object whose condition
holds, with when it began. The status rules have already decided what is to blame: kit behind
a down link or parent is ``unreachable`` and inside a maintenance window ``maintenance``, so
neither is ever found ``down``; and a device down at a disconnected site is the site's alert,
not one of its own (one alert for the site, not one per device behind its link)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from fleet.alerts.choices import RuleKind
from fleet.alerts.models import AlertRule
from fleet.inventory.choices import DeviceLifecycle, SiteLifecycle
from fleet.inventory.models import Country, Device, DeviceModel, Site
from fleet.probes.choices import State
from fleet.probes.models import MaintenanceWindow, ObjectStatus
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import WorkOrder

#: Work orders still to do: one past its due date in these states is overdue.
OPEN_WORK = (
    WorkOrderState.proposed,
    WorkOrderState.approved,
    WorkOrderState.scheduled,
    WorkOrderState.in_progress,
)
#: The most findings one rule makes in one evaluation (the rest wait for the next).
MAX_FINDINGS = 10_000


@dataclass(frozen=True)
class Finding:
    object_type: str
    object_id: int
    object_key: str
    site_id: int | None
    site_code: str | None
    country: str | None
    since: datetime
    summary: str

    @property
    def key(self) -> tuple[str, int]:
        return self.object_type, self.object_id


Findings = dict[tuple[str, int], Finding]


def _scoped(statement: Any, rule: AlertRule) -> Any:
    """``statement`` (joined to ``Site`` and ``Country``) limited to the rule's scope."""
    statement = statement.where(col(Site.lifecycle) != SiteLifecycle.decommissioned)
    if rule.countries:
        statement = statement.where(col(Country.code).in_(rule.countries))
    if rule.site_kinds:
        statement = statement.where(col(Site.kind).in_(rule.site_kinds))
    if rule.criticality:
        statement = statement.where(col(Site.criticality).in_(rule.criticality))
    return statement.limit(MAX_FINDINGS)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _sites_select() -> Any:
    return (
        sa.select(ObjectStatus, col(Site.code), col(Country.code))
        .join(Site, col(Site.id) == col(ObjectStatus.object_id))
        .join(Country, col(Country.id) == col(Site.country_id))
        .where(col(ObjectStatus.object_type) == "site")
    )


async def _site_state(
    session: AsyncSession, rule: AlertRule, state: State, backup: bool | None = None
) -> Findings:
    statement = _scoped(_sites_select().where(col(ObjectStatus.state) == state.value), rule)
    found: Findings = {}
    for status, code, country in (await session.execute(statement)).all():
        in_use = (status.detail or {}).get("link_in_use") or {}
        on_backup = in_use.get("role") == "backup"
        if backup is not None and on_backup != backup:
            continue
        what = (
            f"on backup link {in_use.get('circuit_id')}"
            if backup
            else f"{state.value}: {status.reason or ''}".strip(": ")
        )
        found[("site", status.object_id)] = Finding(
            "site",
            status.object_id,
            code,
            status.object_id,
            code,
            country,
            status.since,
            f"site {code} {what}"[:300],
        )
    return found


async def site_disconnected(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    return await _site_state(session, rule, State.disconnected)


async def site_degraded(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    return await _site_state(session, rule, State.degraded)


async def link_backup(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    return await _site_state(session, rule, State.degraded, backup=True)


async def device_down(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    site_status = aliased(ObjectStatus, name="site_status")
    statement = (
        sa.select(ObjectStatus, col(Device.serial), col(Site.id), col(Site.code), col(Country.code))
        .join(Device, col(Device.id) == col(ObjectStatus.object_id))
        .join(Site, col(Site.id) == col(Device.site_id))
        .join(Country, col(Country.id) == col(Site.country_id))
        .outerjoin(
            site_status,
            sa.and_(
                col(site_status.object_type) == "site", col(site_status.object_id) == col(Site.id)
            ),
        )
        .where(
            col(ObjectStatus.object_type) == "device",
            col(ObjectStatus.state) == State.down.value,
            col(Device.lifecycle) != DeviceLifecycle.retired,
            sa.or_(
                col(site_status.state).is_(None),
                col(site_status.state) != State.disconnected.value,
            ),
        )
    )
    found: Findings = {}
    for status, serial, site_id, code, country in (
        await session.execute(_scoped(statement, rule))
    ).all():
        found[("device", status.object_id)] = Finding(
            "device",
            status.object_id,
            serial,
            site_id,
            code,
            country,
            status.since,
            f"device {serial} at {code} down: {status.reason or ''}".strip(": ")[:300],
        )
    return found


async def end_of_support(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    ahead = timedelta(seconds=rule.threshold_s)
    statement = (
        sa.select(
            col(Device.id),
            col(Device.serial),
            col(DeviceModel.model),
            col(DeviceModel.end_of_support),
            col(Site.id),
            col(Site.code),
            col(Country.code),
        )
        .join(DeviceModel, col(DeviceModel.id) == col(Device.model_id))
        .join(Site, col(Site.id) == col(Device.site_id))
        .join(Country, col(Country.id) == col(Site.country_id))
        .where(
            col(DeviceModel.end_of_support).is_not(None),
            col(DeviceModel.end_of_support) <= (now + ahead).date(),
            col(Device.lifecycle) != DeviceLifecycle.retired,
        )
    )
    found: Findings = {}
    for device_id, serial, model, ends, site_id, code, country in (
        await session.execute(_scoped(statement, rule))
    ).all():
        verb = "reached" if ends <= now.date() else "reaches"
        found[("device", device_id)] = Finding(
            "device",
            device_id,
            serial,
            site_id,
            code,
            country,
            _at(ends) - ahead,
            f"device {serial} ({model}) at {code} {verb} end of support on {ends}"[:300],
        )
    return found


async def work_order_overdue(session: AsyncSession, rule: AlertRule, now: datetime) -> Findings:
    late = timedelta(seconds=rule.threshold_s)
    statement = (
        sa.select(WorkOrder, col(Site.code), col(Country.code))
        .join(Site, col(Site.id) == col(WorkOrder.site_id))
        .join(Country, col(Country.id) == col(Site.country_id))
        .where(
            col(WorkOrder.due_on).is_not(None),
            col(WorkOrder.due_on) < (now - late).date(),
            col(WorkOrder.state).in_([s.value for s in OPEN_WORK]),
        )
    )
    found: Findings = {}
    for order, code, country in (await session.execute(_scoped(statement, rule))).all():
        assert order.id is not None
        assert order.due_on is not None
        found[("work_order", order.id)] = Finding(
            "work_order",
            order.id,
            str(order.id),
            order.site_id,
            code,
            country,
            _at(order.due_on + timedelta(days=1)) + late,
            f"work order {order.id} at {code} ({order.state}) was due on {order.due_on}"[:300],
        )
    return found


FIND: dict[str, Callable[[AsyncSession, AlertRule, datetime], Awaitable[Findings]]] = {
    RuleKind.site_disconnected: site_disconnected,
    RuleKind.site_degraded: site_degraded,
    RuleKind.device_down: device_down,
    RuleKind.link_backup: link_backup,
    RuleKind.end_of_support: end_of_support,
    RuleKind.work_order_overdue: work_order_overdue,
}


@dataclass(frozen=True)
class Windows:
    """The maintenance windows open now: whole sites, and single devices."""

    sites: frozenset[int]
    devices: frozenset[int]

    def cover(self, finding: Finding) -> bool:
        if finding.site_id is not None and finding.site_id in self.sites:
            return True
        return finding.object_type == "device" and finding.object_id in self.devices


async def open_windows(session: AsyncSession, now: datetime) -> Windows:
    rows = (
        await session.execute(
            sa.select(col(MaintenanceWindow.site_id), col(MaintenanceWindow.device_id)).where(
                col(MaintenanceWindow.starts_at) <= now, col(MaintenanceWindow.ends_at) > now
            )
        )
    ).all()
    return Windows(
        frozenset(site for site, device in rows if device is None),
        frozenset(device for _site, device in rows if device is not None),
    )
