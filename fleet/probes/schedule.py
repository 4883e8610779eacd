"""The devices' schedules: a heap of due times, the limits rounds run under, and the queues of
rounds that fell due while their site was at its limit. No event loop of its own: the
scheduler (:mod:`fleet.probes.scheduler`) asks it which rounds may start now."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Container, Iterator
from typing import TypeVar

from fleet.limits import Limit

#: A round that may start: when it fell due, its plan, the device and its base time.
Ready = tuple[float, int, int, float]
T = TypeVar("T")


class Schedule:
    """Each planned device's next round, in event-loop time: a heap of (due, plan, device), and
    each device's current plan (a heap entry of another plan is stale) and base time (its due
    time without jitter, from which the next is counted)."""

    def __init__(self, concurrency: int, site_concurrency: int, jitter_s: float) -> None:
        self.overall = Limit(concurrency)
        self.sites: dict[int, Limit] = defaultdict(lambda: Limit(site_concurrency))
        self.jitter_s = jitter_s
        self._due: list[tuple[float, int, int]] = []
        self._plans: dict[int, tuple[int, float]] = {}
        self._ids = itertools.count()
        # rounds due but held by their site's limit, by site, in the order they fell due
        self._held: dict[int, deque[tuple[float, int, int]]] = {}

    async def run_limited(self, site_id: int, work: Callable[[], Awaitable[T]]) -> T:
        """``work()`` under the overall limit and its site's (the overall one taken first)."""
        overall, site = self.overall, self.sites[site_id]
        await overall.acquire()
        try:
            await site.acquire()
            try:
                return await work()
            finally:
                site.release()
        finally:
            overall.release()

    def plan(self, device_id: int, base: float) -> None:
        """(Re)plan a device: its next round at ``base`` (plus jitter); a previous plan of the
        device is dropped."""
        plan = next(self._ids)
        self._plans[device_id] = (plan, base)
        heapq.heappush(self._due, (base + self._jitter(), plan, device_id))

    def advance(self, device_id: int, plan: int, base: float, interval: float, now: float) -> None:
        """Plan a device's round after the one of ``base``: an interval later, or once now when
        rounds were missed (a busy or paused scheduler)."""
        base += interval
        if base <= now:
            base += interval * math.ceil((now - base) / interval)
        self._plans[device_id] = (plan, base)
        heapq.heappush(self._due, (base + self._jitter(), plan, device_id))

    def drop(self, device_id: int) -> None:
        self._plans.pop(device_id, None)

    def planned(self) -> set[int]:
        return set(self._plans)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._plans

    def ready(
        self, now: float, site_of: Callable[[int], int | None], running: Container[int]
    ) -> Iterator[Ready]:
        """The rounds that may start now, held ones first (due before any still in the heap);
        the limits are read again after each is taken. A round whose site is at its limit is
        held, in its site's queue (first due, first started); one that finds the global limit
        taken stays due. A device already ``running`` is yielded anyway (its round is
        skipped, its next planned); a device with no ``site_of`` is dropped."""
        yield from self._ready_held(site_of)
        due, held = self._due, self._held
        while due and due[0][0] <= now:
            at, plan, device_id = heapq.heappop(due)
            current, site_id = self._plans.get(device_id), site_of(device_id)
            if current is None or current[0] != plan or site_id is None:
                continue  # dropped or re-planned since
            if device_id not in running:
                if self.overall.locked():  # none can start: the next round that ends asks
                    heapq.heappush(due, (at, plan, device_id))
                    return
                queue = held.get(site_id)
                if queue is not None or self.sites[site_id].locked():
                    held.setdefault(site_id, deque()).append((at, plan, device_id))
                    continue
            yield at, plan, device_id, current[1]

    def _ready_held(self, site_of: Callable[[int], int | None]) -> Iterator[Ready]:
        """The held rounds of the sites that have room again."""
        for site_id in list(self._held):
            queue, site = self._held[site_id], self.sites[site_id]
            while queue and not self.overall.locked() and not site.locked():
                at, plan, device_id = queue.popleft()
                current = self._plans.get(device_id)
                if current is None or current[0] != plan or site_of(device_id) is None:
                    continue  # dropped or re-planned while held
                yield at, plan, device_id, current[1]
            if not queue:
                del self._held[site_id]

    def waiting(self, now: float) -> bool:
        """Whether rounds are due that the limits held back."""
        return bool(self._held) or bool(self._due and self._due[0][0] <= now)

    def _jitter(self) -> float:
        return random.uniform(0, self.jitter_s) if self.jitter_s else 0.0  # noqa: S311
