"""The status rules on a small topology (no I/O: rounds in, states and events out)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleet.models import utcnow
from fleet.probes.status import (
    DeviceInfo,
    LinkInfo,
    SiteInfo,
    StatusEngine,
    Topology,
    Window,
)
from fleet.probes.types import ProbeStatus, Reading

MODEM, ROUTER, CAMERA, SCANNER, LTE = 1, 2, 3, 4, 5
SAT, BACKUP = 10, 11


def topology(*, backup: bool = False) -> Topology:
    site = SiteInfo(1, "NE-BCL-01", "NE", "border_crossing_land")
    t = Topology(sites={1: site})
    for device_id, serial, parent in (
        (MODEM, "MODEM", None),
        (ROUTER, "ROUTER", MODEM),
        (CAMERA, "CAMERA", ROUTER),
        (SCANNER, "SCANNER", None),
        (LTE, "LTE", None),
    ):
        t.devices[device_id] = DeviceInfo(device_id, serial, 1, parent, "active")
        site.devices.append(device_id)
    t.links[SAT] = LinkInfo(SAT, "SAT-1", 1, "primary", "satellite", MODEM)
    site.links.append(SAT)
    if backup:
        t.links[BACKUP] = LinkInfo(BACKUP, "LTE-1", 1, "backup", "lte", LTE)
        site.links.append(BACKUP)
    return t


def engine(t: Topology, confirmations: int = 2) -> StatusEngine:
    e = StatusEngine(db=None, confirmations=confirmations)  # type: ignore[arg-type]
    e.topology = t
    return e


def rounds(e: StatusEngine, ok: dict[int, bool]) -> None:
    for device_id, good in ok.items():
        status = ProbeStatus.OK if good else ProbeStatus.TIMEOUT
        e.observe(
            device_id,
            [Reading("snmp", device_id, status, utcnow(), reason="" if good else "no answer")],
            store=False,
        )


def states(e: StatusEngine) -> dict[str, str]:
    return {f"{t}:{i}": c.state for (t, i), c in e.current.items()}


def events(e: StatusEngine, object_type: str, object_id: int) -> list[tuple[str, str]]:
    return [
        (ev.old_state, ev.new_state)
        for ev in e._events
        if ev.object_type == object_type and ev.object_id == object_id
    ]


ALL_OK = {MODEM: True, ROUTER: True, CAMERA: True, SCANNER: True, LTE: True}


def test_first_round_counts_and_changes_need_confirmation() -> None:
    e = engine(topology())
    rounds(e, ALL_OK)
    assert e.state_of("device", SCANNER) == "up"
    assert e.state_of("site", 1) == "connected"
    rounds(e, {SCANNER: False})
    assert e.state_of("device", SCANNER) == "up"  # one failure is not yet a state
    rounds(e, {SCANNER: False})
    assert e.state_of("device", SCANNER) == "up"  # nor before its way in was heard of again
    rounds(e, {MODEM: True})
    assert e.state_of("device", SCANNER) == "down"
    assert e.state_of("site", 1) == "degraded"
    assert events(e, "device", SCANNER) == [("unknown", "up"), ("up", "down")]


def test_a_failure_waits_for_the_way_in_to_report() -> None:
    """The camera's failure is confirmed before the modem was probed again: it is not called
    down until the modem has answered (or failed, and then it is unreachable)."""
    e = engine(topology())
    rounds(e, ALL_OK)
    for _ in range(3):
        rounds(e, {SCANNER: False})
    assert e.state_of("device", SCANNER) == "up"
    rounds(e, {MODEM: False})
    assert e.state_of("device", SCANNER) == "unreachable"
    assert all(new != "down" for _, new in events(e, "device", SCANNER))


def test_flapping_does_not_flap_the_state() -> None:
    e = engine(topology())
    rounds(e, ALL_OK)
    for i in range(10):
        rounds(e, {SCANNER: i % 2 == 0})
    assert e.state_of("device", SCANNER) == "up"
    assert events(e, "device", SCANNER) == [("unknown", "up")]


@pytest.mark.parametrize("camera_first", [True, False])
def test_dead_link_makes_the_site_unreachable_not_down(camera_first: bool) -> None:
    e = engine(topology())
    rounds(e, ALL_OK)
    dead = {CAMERA: False, SCANNER: False, ROUTER: False, MODEM: False, LTE: False}
    order = (
        [CAMERA, SCANNER, ROUTER, LTE, MODEM]
        if camera_first
        else [MODEM, ROUTER, CAMERA, SCANNER, LTE]
    )
    for _ in range(3):
        for device_id in order:
            rounds(e, {device_id: dead[device_id]})
    assert e.state_of("device", MODEM) == "down"  # it terminates the link: it is blamed
    assert e.state_of("link", SAT) == "down"
    assert e.state_of("site", 1) == "disconnected"
    for device_id in (ROUTER, CAMERA, SCANNER, LTE):
        assert e.state_of("device", device_id) == "unreachable", device_id
        assert ("up", "down") not in events(e, "device", device_id)
    for _ in range(2):
        rounds(e, {MODEM: True})
        rounds(e, dict.fromkeys((ROUTER, CAMERA, SCANNER, LTE), True))
    assert all(e.state_of("device", d) == "up" for d in (MODEM, ROUTER, CAMERA, SCANNER, LTE))
    assert e.state_of("site", 1) == "connected"
    assert events(e, "device", CAMERA)[-1] == ("unreachable", "up")


def test_a_dead_parent_is_blamed_not_its_children() -> None:
    e = engine(topology())
    rounds(e, ALL_OK)
    for _ in range(2):
        rounds(e, {ROUTER: False, CAMERA: False})
    rounds(e, {MODEM: True})  # the way in answers: the router is to blame
    assert e.state_of("device", ROUTER) == "down"
    assert e.state_of("device", CAMERA) == "unreachable"
    assert e.state_of("link", SAT) == "up"
    assert e.state_of("site", 1) == "degraded"


def test_backup_link_keeps_the_site_degraded() -> None:
    e = engine(topology(backup=True))
    rounds(e, ALL_OK)
    for _ in range(2):
        rounds(e, {MODEM: False})
    assert e.state_of("link", SAT) == "down"
    assert e.state_of("link", BACKUP) == "up"
    assert e.state_of("site", 1) == "degraded"
    assert e.current[("site", 1)].detail["link_in_use"] == {
        "circuit_id": "LTE-1",
        "role": "backup",
        "medium": "lte",
    }
    assert e.state_of("device", SCANNER) == "up"  # a link still works: nothing else is cut off


def test_maintenance_holds_changes() -> None:
    t = topology()
    now = utcnow()
    t.windows.append(Window(1, SCANNER, now - timedelta(minutes=1), now + timedelta(hours=1)))
    e = engine(t)
    rounds(e, ALL_OK)
    for _ in range(3):
        rounds(e, {SCANNER: False})
    assert e.state_of("device", SCANNER) == "maintenance"
    assert ("maintenance", "down") not in events(e, "device", SCANNER)
    assert all(new != "down" for _, new in events(e, "device", SCANNER))


def test_way_in_is_blamed_even_when_the_modem_sits_behind_the_router() -> None:
    """A site whose modem is reached through its router: when nothing answers, the router is
    blamed (down), the modem is unreachable behind it, the link is down and the rest is cut off;
    only the cut-off devices are probed less often."""
    site = SiteInfo(1, "BF-BCL-03", "BF", "border_crossing_land")
    t = Topology(sites={1: site})
    for device_id, serial, parent in (
        (ROUTER, "ROUTER", None),
        (MODEM, "MODEM", ROUTER),
        (CAMERA, "CAMERA", None),
    ):
        t.devices[device_id] = DeviceInfo(device_id, serial, 1, parent, "active")
        site.devices.append(device_id)
    t.links[SAT] = LinkInfo(SAT, "SAT-1", 1, "primary", "satellite", MODEM)
    site.links.append(SAT)
    backed_off: dict[int, bool] = {}
    e = engine(t)
    e.on_device_state = lambda device_id, cut_off: backed_off.__setitem__(device_id, cut_off)
    rounds(e, {ROUTER: True, MODEM: True, CAMERA: True})
    for _ in range(3):
        rounds(e, {CAMERA: False, ROUTER: False, MODEM: False})
    assert e.state_of("device", ROUTER) == "down"
    assert e.state_of("device", MODEM) == "unreachable"
    assert e.state_of("link", SAT) == "down"
    assert e.state_of("site", 1) == "disconnected"
    assert e.state_of("device", CAMERA) == "unreachable"
    assert backed_off == {ROUTER: False, MODEM: False, CAMERA: True}
    downs = [ev.object_key for ev in e._events if ev.new_state == "down"]
    assert downs == ["ROUTER", "SAT-1"]


@pytest.mark.parametrize("seed", range(10))
def test_evaluating_only_what_changed_agrees_with_evaluating_everything(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round re-evaluates only what it can change (the observed device, failing devices,
    and the headline when a state moved). Random rounds (flapping, dead links, empty rounds, a
    planned device, maintenance windows) give the same states, details and events as
    re-evaluating every device and the headline every time."""
    import random

    from fleet.probes import status

    rng = random.Random(seed)
    clock = [utcnow()]
    monkeypatch.setattr(status, "utcnow", lambda: clock[0])

    def build() -> StatusEngine:
        t = topology(backup=seed % 2 == 1)
        other = SiteInfo(2, "NE-BCL-02", "NE", "border_crossing_land")
        t.sites[2] = other
        members = [
            (20, None, "active"),
            (21, 20, "active"),
            (22, 20, "planned"),
            (23, None, "faulty"),
        ]
        for device_id, parent, lifecycle in members:
            t.devices[device_id] = DeviceInfo(device_id, f"D{device_id}", 2, parent, lifecycle)
            other.devices.append(device_id)
        t.links[30] = LinkInfo(30, "FIBRE-2", 2, "primary", "fibre", 20)
        other.links.append(30)
        start = clock[0]
        t.windows += [  # planned work at the first site starts and ends while rounds come in
            Window(1, None, start + timedelta(hours=6), start + timedelta(hours=9)),
            Window(1, CAMERA, start + timedelta(hours=14), start + timedelta(hours=16)),
        ]
        return engine(t, confirmations=1 + seed % 3)

    incremental, full = build(), build()
    devices = [MODEM, ROUTER, CAMERA, SCANNER, LTE, 20, 21, 22, 23]
    failing = {d: rng.random() < 0.3 for d in devices}

    def snapshot(e: StatusEngine) -> tuple[object, ...]:
        return (
            {k: (c.state, c.since, c.reason, c.detail) for k, c in e.current.items()},
            [
                (ev.object_type, ev.object_id, ev.old_state, ev.new_state, ev.cause)
                for ev in e._events
            ],
            sorted(e._changed),
        )

    for _ in range(500):
        clock[0] += timedelta(seconds=rng.uniform(0, 300))
        if rng.random() < 0.1:  # a link drops or comes back: the whole site at once
            site = rng.choice([[MODEM, ROUTER, CAMERA, SCANNER, LTE], [20, 21, 23]])
            down = rng.random() < 0.5
            failing.update(dict.fromkeys(site, down))
        elif rng.random() < 0.2:
            d = rng.choice(devices)
            failing[d] = not failing[d]
        device_id = rng.choice(devices)
        status_ = ProbeStatus.TIMEOUT if failing[device_id] else ProbeStatus.OK
        readings = [Reading("snmp", device_id, status_, clock[0], firmware_version="1.2")]
        if rng.random() < 0.05:
            readings = []  # a round with nothing to run: unknown
        for e in (incremental, full):
            if e is full:
                e._memo.clear()  # every device and the headline evaluated in full, every time
            e.observe(device_id, readings, store=False)
        assert snapshot(incremental) == snapshot(full)
