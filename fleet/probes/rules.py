"""The status rules, as functions of a device's health and the topology (no I/O, no memory):

* A device's *health* comes from its last round: every probe ok -> ``up``; some -> ``degraded``;
  none -> ``down``; never probed -> ``unknown``. A new health is confirmed only after
  ``confirmations`` rounds in a row agree (the first ever round counts at once), so a flapping
  device does not flap its state (:func:`record_round`).
* A link is as good as the confirmed health of the device that terminates it (:func:`link_state`).
* A ``down`` device is ``unreachable`` instead when something it depends on is failing: a parent
  (the device it is reached through) whose last round failed, or every active link of the site
  -- except for the devices the site is reached by (the links' terminating devices and what
  they are reached through), which are blamed themselves (:func:`device_state`).
* Inside a maintenance window a device or link is ``maintenance`` and its changes are held.
* A site is ``connected`` when its primary link is up and no device is down, ``degraded`` when it
  runs on a backup link or some device is down, ``disconnected`` when no active link is up, and
  ``unknown`` before anything is known (:func:`site_state`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.probes.choices import State
from fleet.probes.topology import DeviceInfo, LinkInfo, SiteInfo, Topology
from fleet.probes.types import Reading

UP, DEGRADED, DOWN, UNREACHABLE = State.up, State.degraded, State.down, State.unreachable
CONNECTED, DISCONNECTED = State.connected, State.disconnected
UNKNOWN, MAINTENANCE = State.unknown, State.maintenance
LINKS_DOWN = "every link of the site is down"
IN_WINDOW = "maintenance window"
FAILING = (DOWN, UNREACHABLE)
_LINK_OF: dict[str, str] = {UP: UP, DEGRADED: UP, DOWN: DOWN}


@dataclass
class Health:
    """What a device's rounds say, before the topology is applied."""

    confirmed: str = UNKNOWN
    pending: str | None = None
    pending_count: int = 0
    last: str = UNKNOWN  # the last round's health, confirmed or not
    reason: str = ""
    at: datetime | None = None
    # What the probes observed, for the needs assessment: firmware and last success.
    firmware: str | None = None
    last_ok_at: datetime | None = None
    failing_since: datetime | None = None  # the first failed round of the current failure


#: The health of a device without rounds, to read (never to change).
NO_ROUNDS = Health()


@dataclass
class Current:
    """What is shown of an object: its state, since when, why, and its detail."""

    state: str
    since: datetime
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def round_health(readings: Iterable[Reading]) -> tuple[str, str]:
    """A round's health and why."""
    results = readings if isinstance(readings, list) else list(readings)
    if len(results) == 1 and results[0].ok:  # the usual round
        return UP, "all probes ok"
    if not results:
        return UNKNOWN, "not probed"
    failed = [r for r in results if not r.ok]
    if not failed:
        return UP, "all probes ok"
    reason = "; ".join(f"{r.kind}: {r.status.value} {r.reason}".strip() for r in failed)[:200]
    return (DEGRADED if len(failed) < len(results) else DOWN), reason


def record_round(
    health: Health, readings: list[Reading], now: datetime, confirmations: int
) -> None:
    """Apply one round to a device's health: its last health, what it observed, and the
    confirmed health once ``confirmations`` rounds in a row agree."""
    state, reason = round_health(readings)
    if state == DOWN and health.last != DOWN:
        health.failing_since = now
    elif state != DOWN:
        health.failing_since = None
    health.last, health.reason, health.at = state, reason, now
    for reading in readings:
        if reading.ok:
            health.last_ok_at = now
            if reading.firmware_version:
                health.firmware = reading.firmware_version
                break
    if health.confirmed == UNKNOWN or state == health.confirmed:
        health.confirmed, health.pending, health.pending_count = state, None, 0
    elif state == health.pending:
        health.pending_count += 1
    else:
        health.pending, health.pending_count = state, 1
    if health.pending is not None and health.pending_count >= confirmations:
        health.confirmed, health.pending, health.pending_count = health.pending, None, 0


def link_state(
    link: LinkInfo, topology: Topology, health: Mapping[int, Health], now: datetime
) -> tuple[str, str]:
    """A link is as good as its terminating device's confirmed health."""
    device_id = link.terminating_device_id
    if device_id is None:
        return UNKNOWN, "no terminating device"
    if topology.in_maintenance(link.site_id, device_id, now):
        return MAINTENANCE, IN_WINDOW
    confirmed = health.get(device_id, NO_ROUNDS).confirmed
    info = topology.devices.get(device_id)
    name = info.serial if info else device_id
    return _LINK_OF.get(confirmed, UNKNOWN), f"terminating device {name} is {confirmed}"


def failing_upstream(
    device: DeviceInfo,
    topology: Topology,
    health: Mapping[int, Health],
    way_in: set[int],
    links_down: bool,
) -> str | None:
    """Why a failing device is not to blame (a parent that does not answer, or every link of
    its site down while it is not on the way in), or None when it is."""
    for parent in topology.parents(device):
        if health.get(parent.device_id, NO_ROUNDS).last == DOWN:
            return f"parent {parent.serial} does not answer"
    if links_down and device.device_id not in way_in:
        return LINKS_DOWN
    return None


def upstream_heard(
    device: DeviceInfo,
    topology: Topology,
    health: Mapping[int, Health],
    way_in: set[int],
    since: datetime | None,
) -> bool:
    """Whether everything the device depends on reported since its failure began: only then is
    the device itself to blame (not a link or parent that has not been probed since)."""
    if since is None:
        return True
    upstream = {parent.device_id for parent in topology.parents(device)}
    if device.device_id not in way_in:
        upstream |= topology.terminators(topology.sites[device.site_id])
    for other in upstream - {device.device_id}:
        heard = health.get(other, NO_ROUNDS).at
        if heard is not None and heard < since:
            return False
    return True


def device_state(
    device: DeviceInfo,
    topology: Topology,
    health: Mapping[int, Health],
    way_in: set[int],
    links_down: bool,
    previous: Current | None,
    observed: bool,
    now: datetime,
) -> tuple[str, str, bool]:
    """A device's state, why, and whether it is *calm* (neither in maintenance nor failing:
    its state is its own health's, whatever the rest of its site does). ``previous``: what is
    shown; ``observed``: its own round triggered this (only a device's own rounds turn it
    from unreachable to down)."""
    own = health.get(device.device_id, NO_ROUNDS)
    if topology.in_maintenance(device.site_id, device.device_id, now):
        return MAINTENANCE, IN_WINDOW, False
    if own.confirmed != DOWN and own.last != DOWN:
        return own.confirmed, own.reason, True
    upstream = failing_upstream(device, topology, health, way_in, links_down)
    if upstream is not None:
        return UNREACHABLE, upstream, False
    if previous is not None and previous.state == UNREACHABLE and own.last == DOWN and not observed:
        return UNREACHABLE, previous.reason or "", False
    if (
        own.confirmed == DOWN
        and own.last == DOWN
        and upstream_heard(device, topology, health, way_in, own.failing_since)
    ):
        return DOWN, own.reason, False
    # Failing or recovering but not yet confirmed: keep what was shown.
    if previous is None:
        return UP, own.reason, False
    return previous.state, previous.reason or "", False


def links_down(
    site: SiteInfo, topology: Topology, health: Mapping[int, Health], states: Iterable[str]
) -> bool:
    """Whether every link of the site counts as down for blaming: every known link state is
    down, or every link's terminating device just failed a round (not yet confirmed)."""
    known = [s for s in states if s != UNKNOWN]
    if known and all(s == DOWN for s in known):
        return True
    return bool(site.links) and all(
        (end := topology.links[i].terminating_device_id) is not None
        and health.get(end, NO_ROUNDS).last == DOWN
        for i in site.links
    )


def site_state(
    site: SiteInfo,
    topology: Topology,
    link_states: Mapping[int, str],
    device_states: Mapping[int, str],
    now: datetime,
) -> tuple[str, str, dict[str, Any]]:
    """A site's headline, why, and its detail (the link in use, devices by state)."""
    counts = Counter(device_states.values())
    up_links = [topology.links[i] for i, s in link_states.items() if s == UP]
    known = any(s != UNKNOWN for s in link_states.values())
    if topology.in_maintenance(site.site_id, None, now):
        state, reason = MAINTENANCE, IN_WINDOW
    elif not known:
        state, reason = UNKNOWN, "no link status known"
    elif not up_links:
        state, reason = DISCONNECTED, "no active link is up"
    else:
        down = (
            sorted(topology.devices[d].serial for d, s in device_states.items() if s == DOWN)
            if counts.get(DOWN)
            else []
        )
        if not any(link.role == "primary" for link in up_links):
            state, reason = DEGRADED, f"on backup link {up_links[0].circuit_id}"
        elif down:
            state, reason = DEGRADED, f"{len(down)} device(s) down: {', '.join(down[:5])}"
        else:
            state, reason = CONNECTED, f"on {up_links[0].medium} link {up_links[0].circuit_id}"
    in_use = next((link for link in up_links if link.role == "primary"), None) or (
        up_links[0] if up_links else None
    )
    detail = {
        "link_in_use": None
        if in_use is None
        else {"circuit_id": in_use.circuit_id, "role": in_use.role, "medium": in_use.medium},
        "devices": dict(counts),
    }
    return state, reason, detail
