"""Enumerations of the inventory: kinds, lifecycles, media and roles."""

from __future__ import annotations

from enum import StrEnum


class SiteKind(StrEnum):
    hq = "hq"
    national_bureau = "national_bureau"
    regional_bureau = "regional_bureau"
    border_crossing_land = "border_crossing_land"
    border_crossing_air = "border_crossing_air"
    border_crossing_sea = "border_crossing_sea"


class SiteLifecycle(StrEnum):
    planned = "planned"
    active = "active"
    decommissioned = "decommissioned"


class DeviceKind(StrEnum):
    camera = "camera"
    fingerprint_scanner = "fingerprint_scanner"
    document_reader = "document_reader"
    forensic_kit = "forensic_kit"
    router = "router"
    switch = "switch"
    firewall = "firewall"
    vpn_gateway = "vpn_gateway"
    satellite_modem = "satellite_modem"
    lte_modem = "lte_modem"
    workstation = "workstation"
    ups = "ups"


class DeviceLifecycle(StrEnum):
    planned = "planned"
    installed = "installed"
    active = "active"
    faulty = "faulty"
    retired = "retired"

    @classmethod
    def probed(cls) -> tuple[DeviceLifecycle, ...]:
        """The lifecycles of devices on site, working or not: probed, and judged by the
        needs assessment."""
        return (cls.installed, cls.active, cls.faulty)


class LinkMedium(StrEnum):
    fibre = "fibre"
    dsl = "dsl"
    lte = "lte"
    satellite = "satellite"
    microwave = "microwave"


class LinkRole(StrEnum):
    primary = "primary"
    backup = "backup"


class LinkLifecycle(StrEnum):
    planned = "planned"
    active = "active"
    decommissioned = "decommissioned"
