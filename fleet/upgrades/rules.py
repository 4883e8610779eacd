"""Profile rules: what a site must have. Each rule type is a small pure function from the rule
and a site's facts to findings (required, actual, compliant), chosen by the rule's ``type``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal, NamedTuple

from pydantic import ConfigDict, Field

from fleet.inventory.choices import DeviceKind, DeviceLifecycle, LinkMedium, SiteKind
from fleet.inventory.schemas import Strict
from fleet.upgrades.choices import Severity, WorkKind

SEVERITY_WEIGHT: dict[str, int] = {
    Severity.low: 1,
    Severity.medium: 2,
    Severity.high: 3,
    Severity.critical: 4,
}
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]
COUNTED_LIFECYCLES = (DeviceLifecycle.active,)
# Devices whose firmware, support and probes are judged: those on site, working or not.
JUDGED_LIFECYCLES = frozenset(DeviceLifecycle.probed())


class RuleBase(Strict):
    id: RuleId
    severity: Severity = Severity.medium
    description: str | None = None


class MinDevices(RuleBase):
    """At least ``count`` active devices of ``kind``."""

    type: Literal["min_devices"]
    kind: DeviceKind
    count: Annotated[int, Field(ge=1, le=1000)]


class MinLinks(RuleBase):
    """At least ``count`` active links (on different media when asked), each with at least the
    committed bandwidth and encrypted when asked."""

    type: Literal["min_links"]
    count: Annotated[int, Field(ge=1, le=20)] = 1
    distinct_media: bool = False
    min_bandwidth_kbps: Annotated[int, Field(ge=1)] | None = None
    encrypted: bool = False


class FirmwareMinimum(RuleBase):
    """Every device at or above its model's minimum firmware (as observed, else as recorded)."""

    type: Literal["firmware_minimum"]


class EndOfSupport(RuleBase):
    """No device past its model's end of support; a warning ``warning_days`` before it."""

    type: Literal["end_of_support"]
    warning_days: Annotated[int, Field(ge=0, le=3650)] = 0


class Availability(RuleBase):
    """The site's connectivity availability over the last ``days`` at or above ``target``."""

    model_config = ConfigDict(title="AvailabilityRule")  # apart from the availability answer

    type: Literal["availability"]
    days: Annotated[int, Field(ge=1, le=365)] = 30
    target: Annotated[float, Field(gt=0, le=1)]


class RecentlyProbed(RuleBase):
    """Every probed device answered a probe within the last ``hours``."""

    type: Literal["recently_probed"]
    hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24


Rule = Annotated[
    MinDevices | MinLinks | FirmwareMinimum | EndOfSupport | Availability | RecentlyProbed,
    Field(discriminator="type"),
]


class Profile(Strict):
    """A site profile as written in site_configs/profiles/*.yaml."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]
    version: Annotated[int, Field(ge=1)]
    site_kinds: Annotated[list[SiteKind], Field(min_length=1)]
    programme: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    description: str | None = None
    rules: Annotated[list[Rule], Field(min_length=1, max_length=100)]


# --- facts and findings -------------------------------------------------------------------
# Immutable records; tuples rather than frozen dataclasses, which cost several times as much
# to build: an assessment of the fleet makes one per device and several per device and rule.


class DeviceFacts(NamedTuple):
    serial: str
    kind: str
    lifecycle: str
    model: str
    firmware: str | None
    observed_firmware: str | None
    minimum_firmware: str | None
    end_of_support: date | None
    probed: bool
    last_ok_at: datetime | None


class LinkFacts(NamedTuple):
    circuit_id: str
    medium: str
    role: str
    bandwidth_kbps: int
    encrypted: bool


@dataclass
class SiteFacts:
    site_id: int
    code: str
    kind: str
    criticality: int
    country: str
    devices: list[DeviceFacts] = field(default_factory=list)
    links: list[LinkFacts] = field(default_factory=list)  # active links only
    availability: dict[int, float | None] = field(default_factory=dict)  # by days


class Finding(NamedTuple):
    rule_id: str
    rule_type: str
    subject: str
    severity: str
    work: str  # install, replace, firmware_upgrade, link_upgrade, repair
    required: str
    actual: str
    compliant: bool
    quantity: int = 1
    detail: str = ""  # e.g. the device kind, model or medium the work concerns


@dataclass(frozen=True)
class Context:
    today: date
    now: datetime


@lru_cache(maxsize=65536)
def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Compare versions as versions: numbers as numbers ("10.12" > "10.9")."""
    return tuple(
        (0, int(p)) if p.isdigit() else (1, p.lower())
        for p in re.findall(r"\d+|[A-Za-z]+", version)
    )


def _min_devices(rule: MinDevices, site: SiteFacts, ctx: Context) -> list[Finding]:
    have = sum(1 for d in site.devices if d.kind == rule.kind and d.lifecycle in COUNTED_LIFECYCLES)
    return [
        Finding(
            rule.id,
            rule.type,
            f"kind:{rule.kind.value}",
            rule.severity,
            WorkKind.install,
            f">= {rule.count} active {rule.kind.value}",
            str(have),
            have >= rule.count,
            quantity=max(0, rule.count - have),
            detail=rule.kind.value,
        )
    ]


def _min_links(rule: MinLinks, site: SiteFacts, ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    count = len({link.medium for link in site.links}) if rule.distinct_media else len(site.links)
    what = "active links on different media" if rule.distinct_media else "active links"
    media = ", ".join(sorted({link.medium for link in site.links})) or "none"
    missing = sorted({m.value for m in LinkMedium} - {link.medium for link in site.links})
    found.append(
        Finding(
            rule.id,
            rule.type,
            "site",
            rule.severity,
            WorkKind.link_upgrade,
            f">= {rule.count} {what}",
            f"{count} ({media})",
            count >= rule.count,
            quantity=max(0, rule.count - count),
            detail="satellite"
            if "satellite" in missing
            else (missing[0] if missing else "satellite"),
        )
    )
    for link in site.links:
        if rule.min_bandwidth_kbps is not None:
            found.append(
                Finding(
                    rule.id,
                    rule.type,
                    f"link:{link.circuit_id}:bandwidth",
                    rule.severity,
                    WorkKind.link_upgrade,
                    f">= {rule.min_bandwidth_kbps} kbit/s",
                    f"{link.bandwidth_kbps} kbit/s",
                    link.bandwidth_kbps >= rule.min_bandwidth_kbps,
                    detail=link.medium,
                )
            )
        if rule.encrypted:
            found.append(
                Finding(
                    rule.id,
                    rule.type,
                    f"link:{link.circuit_id}:encryption",
                    rule.severity,
                    WorkKind.link_upgrade,
                    "encrypted",
                    "encrypted" if link.encrypted else "not encrypted",
                    link.encrypted,
                    detail=link.medium,
                )
            )
    return found


def _firmware(rule: FirmwareMinimum, site: SiteFacts, ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    rule_id, rule_type, severity = rule.id, rule.type, rule.severity
    for d in site.devices:
        minimum = d.minimum_firmware
        if not minimum or d.lifecycle not in JUDGED_LIFECYCLES:
            continue
        version = d.observed_firmware or d.firmware
        if version is None:
            continue  # nothing to judge by
        source = "observed" if d.observed_firmware else "recorded"
        found.append(
            Finding(
                rule_id,
                rule_type,
                f"device:{d.serial}",
                severity,
                WorkKind.firmware_upgrade,
                f">= {minimum}",
                f"{version} ({source})",
                version_key(version) >= version_key(minimum),
                1,
                d.model,
            )
        )
    return found


def _end_of_support(rule: EndOfSupport, site: SiteFacts, ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    today = ctx.today
    horizon = today + timedelta(days=rule.warning_days)
    required = "supported" + (f" beyond {horizon.isoformat()}" if rule.warning_days else "")
    lower = _lower(rule.severity)
    for d in site.devices:
        ends = d.end_of_support
        if ends is None or d.lifecycle not in JUDGED_LIFECYCLES:
            continue
        past = ends < today
        soon = not past and ends <= horizon
        actual = f"support {'ended' if past else 'ends'} {ends.isoformat()}"
        found.append(
            Finding(
                rule.id,
                rule.type,
                f"device:{d.serial}",
                rule.severity if past else lower,
                WorkKind.replacement,
                required,
                actual,
                not (past or soon),
                1,
                d.kind,
            )
        )
    return found


def _lower(severity: str) -> str:
    order = list(Severity)
    return order[max(0, order.index(Severity(severity)) - 1)]


def _availability(rule: Availability, site: SiteFacts, ctx: Context) -> list[Finding]:
    value = site.availability.get(rule.days)
    if value is None:
        return []  # nothing measured yet: no finding either way
    return [
        Finding(
            rule.id,
            rule.type,
            "site",
            rule.severity,
            WorkKind.link_upgrade,
            f">= {rule.target:.2%} over {rule.days} days",
            f"{value:.2%}",
            value >= rule.target,
            detail="satellite",
        )
    ]


def _recently_probed(rule: RecentlyProbed, site: SiteFacts, ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    since = ctx.now - timedelta(hours=rule.hours)
    rule_id, rule_type, severity = rule.id, rule.type, rule.severity
    required = f"answered within {rule.hours} h"
    for d in site.devices:
        if not d.probed or d.lifecycle not in JUDGED_LIFECYCLES:
            continue
        last = d.last_ok_at
        found.append(
            Finding(
                rule_id,
                rule_type,
                f"device:{d.serial}",
                severity,
                WorkKind.repair,
                required,
                f"last answered {last.isoformat()}" if last else "never answered",
                last is not None and last >= since,
                1,
                d.kind,
            )
        )
    return found


CHECKS: dict[str, Callable[..., list[Finding]]] = {
    "min_devices": _min_devices,
    "min_links": _min_links,
    "firmware_minimum": _firmware,
    "end_of_support": _end_of_support,
    "availability": _availability,
    "recently_probed": _recently_probed,
}


def evaluate(rule: RuleBase, site: SiteFacts, ctx: Context) -> list[Finding]:
    return CHECKS[rule.type](rule, site, ctx)  # type: ignore[attr-defined]
