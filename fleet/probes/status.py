"""Live status: probe rounds in, device, link and site states out. The engine keeps every
object's state in memory, applies the rules (:mod:`fleet.probes.rules`) over the topology
(:mod:`fleet.probes.topology`) whenever a device of a site reports a round, and writes results,
state rows and events in batches (:mod:`fleet.probes.store`). Every change of state is an event
with the old and new state and the cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fleet.database import Database
from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.probes import rules, store
from fleet.probes.models import ObjectStatus, StateEvent
from fleet.probes.rules import (
    CONNECTED,
    DEGRADED,
    DISCONNECTED,
    DOWN,
    FAILING,
    LINKS_DOWN,
    MAINTENANCE,
    NO_ROUNDS,
    UNKNOWN,
    UNREACHABLE,
    UP,
    Current,
    Health,
    round_health,
)
from fleet.probes.store import PROBE_RESULT, result_row, result_values
from fleet.probes.targets import PROBED_LIFECYCLES
from fleet.probes.topology import (
    DeviceInfo,
    LinkInfo,
    SiteInfo,
    Topology,
    Window,
    load_topology,
)
from fleet.probes.types import Reading

__all__ = [
    "CONNECTED",
    "DEGRADED",
    "DISCONNECTED",
    "DOWN",
    "FAILING",
    "LINKS_DOWN",
    "MAINTENANCE",
    "PROBE_RESULT",
    "UNKNOWN",
    "UNREACHABLE",
    "UP",
    "DeviceInfo",
    "Health",
    "LinkInfo",
    "SiteInfo",
    "StatusEngine",
    "Topology",
    "Window",
    "result_row",
    "result_values",
    "round_health",
]

log = get_logger("fleet.status")

#: How far a device's stored last success may lag the one in memory: a round writes it only
#: when the stored one is older by this much (rules that read it count in hours).
LAST_OK_LAG = timedelta(seconds=60)


@dataclass
class SiteMemo:
    """What the last evaluation of a site left (see :meth:`StatusEngine._to_evaluate`)."""

    # devices neither failing nor in maintenance when last evaluated, nor probed since
    settled: set[int] = field(default_factory=set)
    # every device the headline counts, with its state
    shown: dict[int, str] = field(default_factory=dict)


def _facts(health: Health) -> tuple[Any, ...]:
    """What of a device's health its evaluation reads when it is settled."""
    return (health.last, health.confirmed, health.pending, health.firmware)


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
        self._seen: set[int] = set()  # devices whose last success is due to be written
        self._stored_ok: dict[int, datetime] = {}  # each device's last success as stored
        self._memo: dict[int, SiteMemo] = {}
        self._lock = asyncio.Lock()
        # a worker sharing the fleet (fleet.probes.sharing) keeps the sites it holds alone,
        # and stores only what its fence lets through; None: every site, no fence
        self.sites: set[int] | None = None
        self.fence: store.Fence | None = None
        self.fenced = 0  # writes the fence left out
        self.elsewhere: set[int] = set()  # sites an edge poller serves (fleet.probes.edge)

    async def load(self) -> None:
        self.topology = await load_topology(self.db)
        self._memo.clear()
        self._apply(await store.load_status(self.db, self.sites))

    async def adopt(self, site_ids: set[int]) -> None:
        """Keep these sites too, from the states their last holder stored."""
        self.forget(site_ids)
        assert self.sites is not None
        self.sites |= site_ids
        self._apply(await store.load_status(self.db, site_ids))
        for site_id in site_ids:
            self.evaluate_site(site_id)

    def forget(self, site_ids: set[int]) -> None:
        """Keep these sites no more (what they saw and was not flushed is dropped)."""
        if self.sites is None:
            self.sites = set()
        self.sites -= site_ids
        for key in [k for k in self.current if self.topology.site_of(*k) in site_ids]:
            del self.current[key]
        for site_id in site_ids:
            self._memo.pop(site_id, None)
            site = self.topology.sites.get(site_id)
            for device_id in site.devices if site else ():
                self.health.pop(device_id, None)

    def _apply(self, rows: list[ObjectStatus]) -> None:
        for row in rows:
            self.current[(row.object_type, row.object_id)] = Current(
                row.state, row.since, row.reason, dict(row.detail)
            )
            if row.object_type == "device":
                health = row.detail.get("health", UNKNOWN)
                self.health[row.object_id] = Health(
                    confirmed=health,
                    last=health,
                    firmware=row.firmware_observed,
                    last_ok_at=row.last_ok_at,
                )
                if row.last_ok_at is not None:
                    self._stored_ok[row.object_id] = row.last_ok_at

    async def reload_topology(self) -> None:
        self.topology = await load_topology(self.db)
        for site_id in list(self.topology.sites):
            self.evaluate_site(site_id)

    def state_of(self, object_type: str, object_id: int) -> str:
        current = self.current.get((object_type, object_id))
        return current.state if current else UNKNOWN

    # --- input ------------------------------------------------------------------------

    def observe(
        self,
        device_id: int,
        readings: list[Reading],
        *,
        store: bool = True,
        at: datetime | None = None,
    ) -> None:
        """One round of a device's probes (that ended ``at``: now unless told, e.g. a round an
        edge poller buffered)."""
        now = at or utcnow()
        if not self.keeps(self.topology.site_of("device", device_id)):
            return  # a round that ended after its site was handed over
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
        rules.record_round(health, readings, now, self.confirmations)
        if health.last_ok_at is not last_ok_before and self._ok_due(device_id, now):
            self._seen.add(device_id)
        after = _facts(health)
        if after[3] != before[3] and ("device", device_id) in self.current:
            self._changed.add(("device", device_id))  # the row carries the observed firmware
        if health.pending is None and after == before and self._all_calm(device.site_id):
            return  # the usual round: nothing it could change did (see _to_evaluate)
        self.evaluate_site(device.site_id, now, observed=device_id)

    def keep_results(self, readings: list[Reading]) -> None:
        """Store a round's results without observing it (one older than the device's state)."""
        self._results.extend(result_values(reading, encode=True) for reading in readings)

    def keeps(self, site_id: int | None) -> bool:
        """Whether this engine keeps the site (always, unless it shares the fleet or an edge
        poller serves the site)."""
        return (self.sites is None or site_id in self.sites) and site_id not in self.elsewhere

    def _ok_due(self, device_id: int, now: datetime) -> bool:
        """Whether a success at ``now`` is to be written: the stored one is LAST_OK_LAG old."""
        stored = self._stored_ok.get(device_id)
        return stored is None or now - stored >= LAST_OK_LAG

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

    def _to_evaluate(
        self, site: SiteInfo, observed: int | None
    ) -> tuple[SiteMemo, list[int], bool]:
        """The site's memo, the devices an evaluation must visit, and whether that is every
        device (then the headline is evaluated too). The cache's one reason: a
        device that is neither failing nor in a maintenance window shows what its own rounds
        say, whatever the rest of the site does, so once evaluated it is *settled* until its
        next round, and a round of another device of the site need not evaluate it again
        (this keeps a round's cost flat in the size of its site). A change of topology or
        windows evaluates everything again (``observed`` None)."""
        memo = self._memo.get(site.site_id)
        quiet = (
            memo is not None
            and observed is not None
            and not self.topology.has_windows(site.site_id)
        )
        if memo is None or not quiet:
            self._memo[site.site_id] = SiteMemo()
            return self._memo[site.site_id], site.devices, True
        settled = memo.settled
        return memo, [d for d in site.devices if d == observed or d not in settled], False

    def evaluate_site(
        self, site_id: int, now: datetime | None = None, observed: int | None = None
    ) -> None:
        """Recompute the states of a site's devices, links and headline; ``observed``: the
        device whose round triggered this."""
        now = now or utcnow()
        site = self.topology.sites.get(site_id)
        if site is None or not self.keeps(site_id):
            return
        memo, todo, moved = self._to_evaluate(site, observed)
        link_states: dict[int, str] = {}
        for link_id in site.links:
            state, reason = rules.link_state(
                self.topology.links[link_id], self.topology, self.health, now
            )
            link_states[link_id] = state
            moved |= self._set("link", link_id, state, reason, now, site)
        links_down = rules.links_down(site, self.topology, self.health, link_states.values())
        moved |= self._evaluate_devices(site, memo, todo, links_down, observed, now)
        if moved:
            state, reason, detail = rules.site_state(
                site, self.topology, link_states, memo.shown, now
            )
            self._set("site", site_id, state, reason, now, site, detail)

    def _evaluate_devices(
        self,
        site: SiteInfo,
        memo: SiteMemo,
        todo: list[int],
        links_down: bool,
        observed: int | None,
        now: datetime,
    ) -> bool:
        """Evaluate the ``todo`` devices of a site; whether what the headline counts moved."""
        moved = False
        way_in = self.topology.way_in(site)
        settled, shown_states = memo.settled, memo.shown
        for device_id in todo:
            device = self.topology.devices[device_id]
            previous = self.current.get(("device", device_id))
            state, reason, calm = rules.device_state(
                device,
                self.topology,
                self.health,
                way_in,
                links_down,
                previous,
                observed == device_id,
                now,
            )
            if calm:
                settled.add(device_id)
            else:
                settled.discard(device_id)
            if device.lifecycle not in PROBED_LIFECYCLES and state == UNKNOWN:
                moved |= shown_states.pop(device_id, None) is not None
                continue
            moved |= shown_states.get(device_id) != state
            shown_states[device_id] = state
            health = self.health.get(device_id, NO_ROUNDS)
            self._set("device", device_id, state, reason, now, site, {"health": health.confirmed})
        return moved

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
                object_key=self.topology.key(object_type, object_id, site),
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

    # --- output -----------------------------------------------------------------------

    @property
    def writing(self) -> bool:
        """Whether a flush or a purge is writing now (they take turns)."""
        return self._lock.locked()

    async def flush(self, also: store.Also | None = None) -> int:
        """Write what changed since the last flush, in one transaction (with ``also``'s
        writes)."""
        async with self._lock:
            results, self._results = self._results, []
            events, self._events = self._events, []
            changed, self._changed = sorted(self._changed), set()
            seen, self._seen = self._seen, set()
            if not (results or events or changed or seen or also):
                return 0
            rows = [row for row in map(self._row, changed) if row is not None]
            seen.difference_update(row.object_id for row in rows if row.object_type == "device")
            moved = [(d, at) for d in sorted(seen) if (at := self.health[d].last_ok_at)]
            self.fenced += await store.write(
                self.db, results, events, changed, rows, moved, self.fence, also
            )
            for row in rows:
                if row.object_type == "device" and row.last_ok_at is not None:
                    self._stored_ok[row.object_id] = row.last_ok_at
            self._stored_ok.update(moved)
            return len(results) + len(events) + len(changed)

    async def purge(self, before: datetime) -> int:
        """Delete the results from before ``before``; how many went. Never beside a flush:
        on SQLite the two would queue for the database's one write lock, which a flush holds
        while the event loop is busy."""
        async with self._lock:
            return await store.purge(self.db, before)

    def _row(self, key: tuple[str, int]) -> ObjectStatus | None:
        """The status row of an object, or None when it is gone from the topology."""
        object_type, object_id = key
        site_id = self.topology.site_of(object_type, object_id)
        if site_id is None:
            return None
        current = self.current[key]
        row = ObjectStatus(
            object_type=object_type,
            object_id=object_id,
            site_id=site_id,
            state=current.state,
            since=current.since,
            reason=(current.reason or "")[:200] or None,
            detail=current.detail,
        )
        if object_type == "device":
            health = self.health.get(object_id, NO_ROUNDS)
            row.last_result_at = health.at
            row.firmware_observed = health.firmware
            row.last_ok_at = health.last_ok_at
        return row
