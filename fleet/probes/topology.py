"""The topology the status rules read: sites, their devices and active links, who is reached
through whom (parents), and the maintenance windows that are current or planned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from fleet.database import Database
from fleet.inventory.choices import LinkLifecycle
from fleet.inventory.models import Country, Device, Link, Site
from fleet.models import utcnow
from fleet.probes.models import MaintenanceWindow


@dataclass
class DeviceInfo:
    device_id: int
    serial: str
    site_id: int
    parent_id: int | None
    lifecycle: str


@dataclass
class LinkInfo:
    link_id: int
    circuit_id: str
    site_id: int
    role: str
    medium: str
    terminating_device_id: int | None


@dataclass
class SiteInfo:
    site_id: int
    code: str
    country: str
    kind: str
    devices: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)


@dataclass
class Window:
    site_id: int
    device_id: int | None
    starts_at: datetime
    ends_at: datetime

    def covers(self, site_id: int, device_id: int | None, now: datetime) -> bool:
        if self.site_id != site_id or not self.starts_at <= now < self.ends_at:
            return False
        return self.device_id is None or self.device_id == device_id


@dataclass
class Topology:
    sites: dict[int, SiteInfo] = field(default_factory=dict)
    devices: dict[int, DeviceInfo] = field(default_factory=dict)
    links: dict[int, LinkInfo] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)

    def in_maintenance(self, site_id: int, device_id: int | None, now: datetime) -> bool:
        return any(w.covers(site_id, device_id, now) for w in self.windows)

    def has_windows(self, site_id: int) -> bool:
        """Whether a maintenance window (current or planned) concerns the site."""
        return bool(self.windows) and any(w.site_id == site_id for w in self.windows)

    def parents(self, device: DeviceInfo) -> list[DeviceInfo]:
        """The devices ``device`` is reached through, nearest first (a loop ends the walk)."""
        found: list[DeviceInfo] = []
        parent_id, seen = device.parent_id, {device.device_id}
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            parent = self.devices.get(parent_id)
            if parent is None:
                break
            found.append(parent)
            parent_id = parent.parent_id
        return found

    def terminators(self, site: SiteInfo) -> set[int]:
        """The devices that terminate the site's active links."""
        return {
            link.terminating_device_id
            for link in (self.links[i] for i in site.links)
            if link.terminating_device_id is not None
        }

    def way_in(self, site: SiteInfo) -> set[int]:
        """The devices a site is reached by: its links' terminating devices and every device
        they are reached through."""
        terminators = self.terminators(site)
        found = set(terminators)
        for device_id in terminators:
            device = self.devices.get(device_id)
            if device is not None:
                found.update(parent.device_id for parent in self.parents(device))
        return found

    def key(self, object_type: str, object_id: int, site: SiteInfo) -> str:
        """The object's name in events: a site's code, a device's serial, a link's circuit."""
        if object_type == "site":
            return site.code
        if object_type == "device":
            return self.devices[object_id].serial
        return self.links[object_id].circuit_id

    def site_of(self, object_type: str, object_id: int) -> int | None:
        if object_type == "site":
            return object_id
        if object_type == "device":
            device = self.devices.get(object_id)
            return device.site_id if device else None
        link = self.links.get(object_id)
        return link.site_id if link else None


async def load_topology(db: Database) -> Topology:
    """Sites, devices, active links and current or future maintenance windows."""
    topology = Topology()
    async with db.session() as session:
        rows: Any = await session.execute(
            sa.select(col(Site.id), col(Site.code), col(Country.code), col(Site.kind)).join(
                Country, col(Site.country_id) == col(Country.id)
            )
        )
        for site_id, code, country, kind in rows:
            topology.sites[site_id] = SiteInfo(site_id, code, country, kind)
        rows = await session.execute(
            sa.select(
                col(Device.id),
                col(Device.serial),
                col(Device.site_id),
                col(Device.parent_id),
                col(Device.lifecycle),
            )
        )
        for device_id, serial, site_id, parent_id, lifecycle in rows:
            topology.devices[device_id] = DeviceInfo(
                device_id, serial, site_id, parent_id, lifecycle
            )
            topology.sites[site_id].devices.append(device_id)
        rows = await session.execute(
            sa.select(
                col(Link.id),
                col(Link.circuit_id),
                col(Link.site_id),
                col(Link.role),
                col(Link.medium),
                col(Link.terminating_device_id),
            ).where(col(Link.lifecycle) == LinkLifecycle.active)
        )
        for link_id, circuit, site_id, role, medium, device_id in rows:
            topology.links[link_id] = LinkInfo(link_id, circuit, site_id, role, medium, device_id)
            topology.sites[site_id].links.append(link_id)
        for window in await session.scalars(
            sa.select(MaintenanceWindow).where(col(MaintenanceWindow.ends_at) > utcnow())
        ):
            topology.windows.append(
                Window(window.site_id, window.device_id, window.starts_at, window.ends_at)
            )
    return topology
