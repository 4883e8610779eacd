"""Live status: probe rounds in, device, link and site states out, with the topology taken into
account so that nothing is blamed for a failure upstream of it.

Rules, applied per site whenever one of its devices reports a round:

* A device's *health* comes from its last round: every probe ok -> ``up``; some -> ``degraded``;
  none -> ``down``; never probed -> ``unknown``. A new health is confirmed only after
  ``state_confirmations`` rounds in a row agree (the first ever round counts at once), so a
  flapping device does not flap its state.
* A ``down`` device is ``unreachable`` instead when something it depends on is failing: a parent
  (the device it is reached through) whose last round failed, or every active link of the site
  (a link is as good as the device that terminates it) -- except for the devices the site is
  reached by (the links' terminating devices and what they are reached through), which are
  blamed themselves. Devices cut off with their site are probed less often.
* Inside a maintenance window a device is ``maintenance`` and its changes of health are held.
* A site is ``connected`` when its primary link is up and no device is down, ``degraded`` when it
  runs on a backup link or some device is down, ``disconnected`` when no active link is up, and
  ``unknown`` before anything is known.

Every change of state is an event with the old and new state and the cause.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from fleet import bulk
from fleet.database import Database, json_text
from fleet.inventory.models import Country, Device, Link, Site
from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.probes.models import MaintenanceWindow, ObjectStatus, ProbeResult, StateEvent
from fleet.probes.targets import PROBED_LIFECYCLES
from fleet.probes.types import Reading

log = get_logger("fleet.status")
PROBE_RESULT: sa.Table = ProbeResult.__table__  # type: ignore[attr-defined]  # rows, not objects

UP, DEGRADED, DOWN, UNREACHABLE, UNKNOWN, MAINTENANCE = (
    "up",
    "degraded",
    "down",
    "unreachable",
    "unknown",
    "maintenance",
)
CONNECTED, DISCONNECTED = "connected", "disconnected"
LINKS_DOWN = "every link of the site is down"
FAILING = (DOWN, UNREACHABLE)


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
            ).where(col(Link.lifecycle) == "active")
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
class SiteMemo:
    """What the last evaluation of a site left, so that the next round of one of its devices
    re-evaluates only what that round can change."""

    # devices neither failing nor in maintenance when last evaluated, nor probed since
    settled: set[int] = field(default_factory=set)
    # every device the headline counts, with its state
    shown: dict[int, str] = field(default_factory=dict)


@dataclass
class Current:
    state: str
    since: datetime
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


QUARTER = timedelta(minutes=15)


def _quarter(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(
        minute=moment.minute - moment.minute % 15, second=0, microsecond=0
    ).isoformat()


def _facts(health: Health) -> tuple[Any, ...]:
    """What of a device's health its evaluation reads when it is settled (and the quarter hour
    of its last success, compared apart: see ``StatusEngine._same_quarter``)."""
    return (health.last, health.confirmed, health.pending, health.firmware)


def round_health(readings: Iterable[Reading]) -> tuple[str, str]:
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


class StatusEngine:
    """Keeps every object's state in memory, and writes results, state rows and events in
    batches (``flush``)."""

    def __init__(
        self,
        db: Database,
        *,
        confirmations: int = 2,
        on_device_state: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.db = db
        self.confirmations = confirmations
        self.on_device_state = on_device_state
        self.topology = Topology()
        self.health: dict[int, Health] = {}
        self.current: dict[tuple[str, int], Current] = {}
        # probe_result rows, their documents already text: flat rows the collector soon stops
        # tracking, however many a busy second buffers (see result_values)
        self._results: list[dict[str, Any]] = []
        self._events: list[StateEvent] = []
        self._changed: set[tuple[str, int]] = set()
        self._memo: dict[int, SiteMemo] = {}
        self._lock = asyncio.Lock()
        self._quarter_span = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))

    async def load(self) -> None:
        self.topology = await load_topology(self.db)
        self._memo.clear()
        async with self.db.session() as session:
            for row in await session.scalars(sa.select(ObjectStatus)):
                self.current[(row.object_type, row.object_id)] = Current(
                    row.state, row.since, row.reason, dict(row.detail)
                )
                if row.object_type == "device":
                    health = row.detail.get("health", UNKNOWN)
                    last_ok = row.detail.get("last_ok_at")
                    self.health[row.object_id] = Health(
                        confirmed=health,
                        last=health,
                        firmware=row.detail.get("firmware"),
                        last_ok_at=datetime.fromisoformat(last_ok) if last_ok else None,
                    )

    async def reload_topology(self) -> None:
        self.topology = await load_topology(self.db)
        for site_id in list(self.topology.sites):
            self.evaluate_site(site_id)

    def state_of(self, object_type: str, object_id: int) -> str:
        current = self.current.get((object_type, object_id))
        return current.state if current else UNKNOWN

    # --- input ------------------------------------------------------------------------

    def observe(self, device_id: int, readings: list[Reading], *, store: bool = True) -> None:
        """One round of a device's probes."""
        now = utcnow()
        if store:
            for reading in readings:
                self._results.append(result_values(reading, encode=True))
        device = self.topology.devices.get(device_id)
        if device is None:
            return
        health = self.health.get(device_id)
        if health is None:
            health = self.health[device_id] = Health()
        before, last_ok_before = _facts(health), health.last_ok_at
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
        if health.pending is not None and health.pending_count >= self.confirmations:
            health.confirmed, health.pending, health.pending_count = health.pending, None, 0
        if (
            health.pending is None
            and _facts(health) == before
            and self._same_quarter(last_ok_before, health.last_ok_at)
            and self._all_calm(device.site_id)
        ):
            return  # the usual round: nothing it could change did (see evaluate_site)
        self.evaluate_site(device.site_id, now, observed=device_id)

    def _same_quarter(self, before: datetime | None, after: datetime | None) -> bool:
        """Whether a last success moved within its quarter hour (the detail keeps quarters):
        ``after`` is ``before`` or the latest moment seen; one comparison per round."""
        if after is before:
            return True
        if before is None or after is None:
            return False
        start, end = self._quarter_span
        if not start <= after < end:
            start = after.replace(minute=after.minute - after.minute % 15, second=0, microsecond=0)
            end = start + QUARTER
            self._quarter_span = start, end
        return start <= before < end

    def _all_calm(self, site_id: int) -> bool:
        """Whether every device of the site was settled when last evaluated and no maintenance
        window is planned there: then a round that changes none of its device's facts changes
        nothing at all (evaluating the site would re-evaluate that device alone, to the same
        state and detail; its links follow confirmed health, which did not move)."""
        memo = self._memo.get(site_id)
        site = self.topology.sites.get(site_id)
        return (
            memo is not None
            and site is not None
            and len(memo.settled) == len(site.devices)
            and not self.topology.has_windows(site_id)
        )

    # --- evaluation -------------------------------------------------------------------

    def _terminators(self, site: SiteInfo) -> set[int]:
        return {
            link.terminating_device_id
            for link in (self.topology.links[i] for i in site.links)
            if link.terminating_device_id is not None
        }

    def _way_in(self, terminators: set[int]) -> set[int]:
        """The devices a site is reached by: its links' terminating devices and every device
        they are reached through. They are never blamed on the site's links."""
        found = set(terminators)
        for device_id in terminators:
            parent = self.topology.devices.get(device_id)
            seen = {device_id}
            while (
                parent is not None and parent.parent_id is not None and parent.parent_id not in seen
            ):
                seen.add(parent.parent_id)
                found.add(parent.parent_id)
                parent = self.topology.devices.get(parent.parent_id)
        return found

    def _upstream_heard(self, device: DeviceInfo, way_in: set[int], since: datetime | None) -> bool:
        """Whether everything the device depends on reported since its failure began: only
        then is the device itself to blame (not a link or parent that has not been probed
        since)."""
        if since is None:
            return True
        upstream: set[int] = set()
        parent_id = device.parent_id
        while parent_id is not None and parent_id not in upstream:
            upstream.add(parent_id)
            parent = self.topology.devices.get(parent_id)
            parent_id = parent.parent_id if parent is not None else None
        if device.device_id not in way_in:
            site = self.topology.sites[device.site_id]
            upstream |= self._terminators(site)
        for other in upstream - {device.device_id}:
            heard = self.health.get(other, NO_ROUNDS).at
            if heard is not None and heard < since:
                return False
        return True

    def _failing_upstream(
        self, device: DeviceInfo, terminators: set[int], links_down: bool
    ) -> str | None:
        """Why a failing device is not to blame, or None when it is."""
        parent_id, seen = device.parent_id, {device.device_id}
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            parent: DeviceInfo | None = self.topology.devices.get(parent_id)
            if parent is None:
                break
            if self.health.get(parent_id, NO_ROUNDS).last == DOWN:
                return f"parent {parent.serial} does not answer"
            parent_id = parent.parent_id
        if device.device_id not in terminators and links_down:
            return LINKS_DOWN
        return None

    def evaluate_site(
        self, site_id: int, now: datetime | None = None, observed: int | None = None
    ) -> None:
        """Recompute the states of a site's devices, links and headline. ``observed`` is the
        device whose round triggered this: only a device's own rounds can turn it from
        unreachable to down (its last failure happened while its way in was broken)."""
        now = now or utcnow()
        site = self.topology.sites.get(site_id)
        if site is None:
            return
        # A device that is neither failing nor in a maintenance window shows what its own rounds
        # say, whatever the rest of the site does: once evaluated, it is *settled* until its
        # next round, and a round of another device of the site need not evaluate it again;
        # when no state changed, neither did the headline. A change of topology or windows
        # evaluates everything again (observed=None).
        memo = self._memo.get(site_id)
        quiet = memo is not None and observed is not None and not self.topology.has_windows(site_id)
        moved = not quiet  # whether the headline's inputs may have changed
        if memo is None or not quiet:
            memo = self._memo[site_id] = SiteMemo()
        terminators = self._way_in(self._terminators(site))
        # Links first: each is as good as its terminating device's confirmed health.
        link_states: dict[int, str] = {}
        for link_id in site.links:
            link = self.topology.links[link_id]
            device_id = link.terminating_device_id
            if device_id is None:
                state, reason = UNKNOWN, "no terminating device"
            elif self.topology.in_maintenance(site_id, device_id, now):
                state, reason = MAINTENANCE, "maintenance window"
            else:
                confirmed = self.health.get(device_id, NO_ROUNDS).confirmed
                state = {UP: UP, DEGRADED: UP, DOWN: DOWN}.get(confirmed, UNKNOWN)
                info = self.topology.devices.get(device_id)
                name = info.serial if info else device_id
                reason = f"terminating device {name} is {confirmed}"
            link_states[link_id] = state
            moved |= self._set("link", link_id, state, reason, now, site)
        known = [s for s in link_states.values() if s != UNKNOWN]
        links_down_now = bool(known) and all(s == DOWN for s in known)
        # A link whose terminator just failed once counts as down for blaming (not for its state).
        links_failing = bool(site.links) and all(
            (end := self.topology.links[i].terminating_device_id) is not None
            and self.health.get(end, NO_ROUNDS).last == DOWN
            for i in site.links
        )
        settled, shown_states = memo.settled, memo.shown
        todo = (
            [d for d in site.devices if d == observed or d not in settled]
            if quiet
            else site.devices
        )
        for device_id in todo:
            device = self.topology.devices[device_id]
            health = self.health.get(device_id, NO_ROUNDS)
            settled.discard(device_id)
            calm = False  # neither in maintenance nor failing: settled once evaluated
            if self.topology.in_maintenance(site_id, device_id, now):
                state, reason = MAINTENANCE, "maintenance window"
            elif health.confirmed == DOWN or health.last == DOWN:
                upstream = self._failing_upstream(
                    device, terminators, links_down_now or links_failing
                )
                previous = self.current.get(("device", device_id))
                if upstream is not None:
                    state, reason = UNREACHABLE, upstream
                elif (
                    previous is not None
                    and previous.state == UNREACHABLE
                    and health.last == DOWN
                    and observed != device_id
                ):
                    state, reason = UNREACHABLE, previous.reason or ""
                elif (
                    health.confirmed == DOWN
                    and health.last == DOWN
                    and self._upstream_heard(device, terminators, health.failing_since)
                ):
                    state, reason = DOWN, health.reason
                else:
                    # Failing or recovering but not yet confirmed: keep what was shown.
                    state = previous.state if previous is not None else UP
                    reason = (previous.reason or "") if previous is not None else health.reason
            else:
                state, reason = health.confirmed, health.reason
                calm = True
            shown = device.lifecycle in PROBED_LIFECYCLES or state != UNKNOWN
            if calm:
                settled.add(device_id)
            if not shown:
                moved |= shown_states.pop(device_id, None) is not None
                continue
            moved |= shown_states.get(device_id) != state
            shown_states[device_id] = state
            facts = {
                "health": health.confirmed,
                "firmware": health.firmware,
                # Kept to the quarter hour, so that rows are not rewritten on every round.
                "last_ok_at": _quarter(health.last_ok_at),
            }
            self._set("device", device_id, state, reason, now, site, facts)
        if not moved:
            return
        device_states = shown_states
        counts = Counter(device_states.values())
        # The site's headline.
        up_links = [self.topology.links[i] for i, s in link_states.items() if s == UP]
        if self.topology.in_maintenance(site_id, None, now):
            state, reason = MAINTENANCE, "maintenance window"
        elif not known:
            state, reason = UNKNOWN, "no link status known"
        elif not up_links:
            state, reason = DISCONNECTED, "no active link is up"
        else:
            down = (
                sorted(
                    self.topology.devices[d].serial for d, s in device_states.items() if s == DOWN
                )
                if counts.get(DOWN)
                else []
            )
            primary_up = any(link.role == "primary" for link in up_links)
            if not primary_up:
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
        self._set("site", site_id, state, reason, now, site, detail)

    def _set(
        self,
        object_type: str,
        object_id: int,
        state: str,
        reason: str | None,
        now: datetime,
        site: SiteInfo,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Record an object's state (and detail); whether the state changed."""
        key = (object_type, object_id)
        current = self.current.get(key)
        if current is not None and current.state == state:
            if detail is not None and detail != current.detail:
                current.detail = detail
                self._changed.add(key)
            return False
        old = current.state if current else UNKNOWN
        self.current[key] = Current(state, now, reason, detail or {})
        self._changed.add(key)
        if current is None and state == UNKNOWN:
            return True
        self._events.append(
            StateEvent(
                at=now,
                object_type=object_type,
                object_id=object_id,
                object_key=self._key(object_type, object_id, site),
                site_id=site.site_id,
                country_code=site.country,
                old_state=old,
                new_state=state,
                cause=(reason or "")[:200],
            )
        )
        log.info(
            "state_change", object=f"{object_type}:{object_id}", old=old, new=state, cause=reason
        )
        if object_type == "device" and self.on_device_state is not None:
            # Devices cut off with their site are probed less often until a link returns.
            self.on_device_state(object_id, state == UNREACHABLE and reason == LINKS_DOWN)
        return True

    def _key(self, object_type: str, object_id: int, site: SiteInfo) -> str:
        if object_type == "site":
            return site.code
        if object_type == "device":
            return self.topology.devices[object_id].serial
        return self.topology.links[object_id].circuit_id

    # --- output -----------------------------------------------------------------------

    async def flush(self) -> int:
        """Write what changed since the last flush, in one transaction."""
        async with self._lock:
            results, self._results = self._results, []
            events, self._events = self._events, []
            changed, self._changed = self._changed, set()
            if not (results or events or changed):
                return 0
            async with self.db.session(write=True) as session:
                if results:  # plain rows, one executemany at the driver: no ORM objects
                    await bulk.insert_many(
                        session, PROBE_RESULT, results, encoded={"data"}, distinct={"at"}
                    )
                session.add_all(events)
                if changed:
                    await session.execute(
                        sa.delete(ObjectStatus).where(
                            sa.tuple_(
                                col(ObjectStatus.object_type), col(ObjectStatus.object_id)
                            ).in_(sorted(changed))
                        )
                    )
                    for object_type, object_id in sorted(changed):
                        current = self.current[(object_type, object_id)]
                        site_id = self._site_of(object_type, object_id)
                        if site_id is None:
                            continue
                        session.add(
                            ObjectStatus(
                                object_type=object_type,
                                object_id=object_id,
                                site_id=site_id,
                                state=current.state,
                                since=current.since,
                                reason=(current.reason or "")[:200] or None,
                                last_result_at=self._last_result(object_type, object_id),
                                detail=current.detail,
                            )
                        )
                await session.commit()
            return len(results) + len(events) + len(changed)

    async def purge(self, before: datetime) -> int:
        """Delete the results from before ``before``; how many went. Never beside a flush:
        on SQLite the two would queue for the database's one write lock, which a flush holds
        while the event loop is busy."""
        async with self._lock, self.db.session(write=True) as session:
            result = await session.execute(
                sa.delete(ProbeResult).where(col(ProbeResult.at) < before)
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    def _site_of(self, object_type: str, object_id: int) -> int | None:
        if object_type == "site":
            return object_id
        if object_type == "device":
            device = self.topology.devices.get(object_id)
            return device.site_id if device else None
        link = self.topology.links.get(object_id)
        return link.site_id if link else None

    def _last_result(self, object_type: str, object_id: int) -> datetime | None:
        if object_type != "device":
            return None
        return self.health.get(object_id, NO_ROUNDS).at


def result_row(reading: Reading) -> ProbeResult:
    return ProbeResult(**result_values(reading))


def result_values(reading: Reading, *, encode: bool = False) -> dict[str, Any]:
    """The probe_result row of a reading, as column values; ``encode``: the ``data`` document
    as JSON text (or None), as the column's type would write it."""
    data: dict[str, Any] = {}
    if reading.uptime_seconds is not None:
        data["uptime_seconds"] = reading.uptime_seconds
    if reading.firmware_version:
        data["firmware_version"] = reading.firmware_version
    if reading.sys_descr:
        data["sys_descr"] = reading.sys_descr[:200]
    if reading.interfaces:
        # as objects of the dataclass's fields; the encoder writes the dataclasses themselves
        data["interfaces"] = (
            reading.interfaces[:16] if encode else [asdict(i) for i in reading.interfaces[:16]]
        )
    if reading.values:
        data["values"] = dict(list(reading.values.items())[:32])
    if reading.http_status is not None:
        data["http_status"] = reading.http_status
    return {
        "device_id": reading.device_id,
        "kind": reading.kind,
        "at": reading.started_at,
        "status": str(reading.status),
        "duration_ms": round(reading.duration_ms, 2),
        "reason": reading.reason[:200] or None,
        "data": (json_text(data) if encode else data) if data else None,
    }
