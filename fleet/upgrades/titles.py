"""Work-order titles a planner reads as sentences: what to do, to what, where.

A title is written once, when its order is proposed; orders already stored keep theirs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from fleet.inventory.models import Device, Site
from fleet.upgrades.choices import WorkKind
from fleet.upgrades.rules import Finding

# kind: (one, several); the article of "one" included.
KIND_WORDS: dict[str, tuple[str, str]] = {
    "camera": ("a camera", "cameras"),
    "fingerprint_scanner": ("a fingerprint scanner", "fingerprint scanners"),
    "document_reader": ("a document reader", "document readers"),
    "forensic_kit": ("a forensic kit", "forensic kits"),
    "router": ("a router", "routers"),
    "switch": ("a switch", "switches"),
    "firewall": ("a firewall", "firewalls"),
    "vpn_gateway": ("a VPN gateway", "VPN gateways"),
    "satellite_modem": ("a satellite modem", "satellite modems"),
    "lte_modem": ("an LTE modem", "LTE modems"),
    "workstation": ("a workstation", "workstations"),
    "ups": ("a UPS", "UPSes"),
}
MEDIUM_WORDS = {"lte": "an LTE", "dsl": "a DSL", "fibre": "a fibre", "microwave": "a microwave"}


class Place(NamedTuple):
    """What a title names: the site, and its devices by serial (their hostnames)."""

    code: str
    name: str
    hostnames: dict[str, str]


async def places(connection: AsyncConnection, site_ids: Iterable[int]) -> dict[int, Place]:
    """The names the titles of new work orders at ``site_ids`` use, in two queries."""
    ids = sorted(set(site_ids))
    if not ids:
        return {}
    sites: Any = await connection.execute(
        sa.select(col(Site.id), col(Site.code), col(Site.name)).where(col(Site.id).in_(ids))
    )
    found: dict[int, Place] = {site_id: Place(code, name, {}) for site_id, code, name in sites}
    devices: Any = await connection.execute(
        sa.select(col(Device.site_id), col(Device.serial), col(Device.hostname)).where(
            col(Device.site_id).in_(ids), col(Device.hostname).is_not(None)
        )
    )
    for site_id, serial, hostname in devices:
        found[site_id].hostnames[serial] = hostname
    return found


def _kind(kind: str, count: int) -> str:
    one, several = KIND_WORDS.get(kind, (f"a {kind.replace('_', ' ')}", kind.replace("_", " ")))
    return one if count == 1 else f"{count} {several}"


def title_of(finding: Finding, place: Place) -> str:
    """e.g. "Install a fingerprint scanner at Kantchari border post (BF-BCL-03)"."""
    where = f"at {place.name} ({place.code})"
    serial = finding.subject.removeprefix("device:")
    device = place.hostnames.get(serial, serial)
    work = finding.work
    if work == WorkKind.install:
        text = f"Install {_kind(finding.detail, max(1, finding.quantity))} {where}"
    elif work == WorkKind.replacement:
        text = f"Replace {device} {where}: its {finding.actual}"
    elif work == WorkKind.firmware_upgrade:
        current = finding.actual.split(" (", 1)[0]
        text = (
            f"Upgrade firmware of {device} from {current} to {finding.required.removeprefix('>= ')}"
        )
    elif work == WorkKind.repair:
        text = f"Repair {device} {where}: not answering probes ({finding.actual})"
    elif work == WorkKind.link_upgrade:
        text = _link_title(finding, where)
    else:
        raise KeyError(work)
    return text[:200]


def _link_title(finding: Finding, where: str) -> str:
    circuit = finding.subject.removeprefix("link:").rsplit(":", 1)[0]
    if finding.subject.endswith(":bandwidth"):
        wanted = finding.required.removeprefix(">= ")
        return f"Raise link {circuit} {where} from {finding.actual} to {wanted}"
    if finding.subject.endswith(":encryption"):
        return f"Encrypt link {circuit} {where}"
    if finding.rule_type == "availability":
        return (
            f"Improve the connectivity {where}: {finding.actual} available, "
            f"{finding.required.removeprefix('>= ')} wanted"
        )
    medium = MEDIUM_WORDS.get(finding.detail, f"a {finding.detail}")
    if finding.quantity > 1:
        return f"Add {finding.quantity} links {where}, one of them {medium} link"
    return f"Add {medium} link {where}"
