"""The status rules as plain functions: health and topology in, states out (no engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet.probes import rules
from fleet.probes.rules import Current, Health
from fleet.probes.topology import DeviceInfo, LinkInfo, SiteInfo, Topology, Window
from fleet.probes.types import ProbeStatus, Reading

NOW = datetime(2026, 11, 1, 10, 14, 59, 250_000, tzinfo=UTC)
MODEM, ROUTER, CAMERA, LTE = 1, 2, 3, 4
SAT, BACKUP = 10, 11


def site() -> Topology:
    s = SiteInfo(1, "NE-BCL-01", "NE", "border_crossing_land", [MODEM, ROUTER, CAMERA, LTE])
    t = Topology(sites={1: s})
    for device_id, parent in ((MODEM, None), (ROUTER, MODEM), (CAMERA, ROUTER), (LTE, None)):
        t.devices[device_id] = DeviceInfo(device_id, f"D{device_id}", 1, parent, "active")
    t.links[SAT] = LinkInfo(SAT, "SAT-1", 1, "primary", "satellite", MODEM)
    t.links[BACKUP] = LinkInfo(BACKUP, "LTE-1", 1, "backup", "lte", LTE)
    s.links.extend([SAT, BACKUP])
    return t


def reading(ok: bool, firmware: str = "") -> Reading:
    status = ProbeStatus.OK if ok else ProbeStatus.TIMEOUT
    return Reading(
        "snmp", 1, status, NOW, reason="" if ok else "no answer", firmware_version=firmware
    )


def healths(**states: str) -> dict[int, Health]:
    ids = {"modem": MODEM, "router": ROUTER, "camera": CAMERA, "lte": LTE}
    return {ids[name]: Health(confirmed=s, last=s, at=NOW) for name, s in states.items()}


def test_a_round_s_health() -> None:
    assert rules.round_health([reading(True)]) == ("up", "all probes ok")
    assert rules.round_health([]) == ("unknown", "not probed")
    assert rules.round_health([reading(False)]) == ("down", "snmp: timeout no answer")
    assert rules.round_health([reading(True), reading(False)])[0] == "degraded"


def test_a_new_health_is_confirmed_after_rounds_agree_and_success_is_exact() -> None:
    health = Health()
    rules.record_round(health, [reading(True, "15.2")], NOW, confirmations=2)
    assert (health.confirmed, health.firmware, health.last_ok_at) == ("up", "15.2", NOW)
    later = NOW + timedelta(seconds=7)
    rules.record_round(health, [reading(False)], later, confirmations=2)
    assert (health.confirmed, health.pending, health.last) == ("up", "down", "down")
    assert (health.failing_since, health.last_ok_at) == (later, NOW)
    rules.record_round(health, [reading(False)], later, confirmations=2)
    assert (health.confirmed, health.pending) == ("down", None)


def test_a_link_follows_its_terminating_device() -> None:
    t = site()
    h = healths(modem="degraded", lte="down")
    assert rules.link_state(t.links[SAT], t, h, NOW) == ("up", "terminating device D1 is degraded")
    assert rules.link_state(t.links[BACKUP], t, h, NOW)[0] == "down"
    t.windows.append(Window(1, LTE, NOW - timedelta(hours=1), NOW + timedelta(hours=1)))
    assert rules.link_state(t.links[BACKUP], t, h, NOW) == ("maintenance", "maintenance window")


def test_a_failing_device_behind_a_failing_parent_is_unreachable() -> None:
    t = site()
    h = healths(modem="up", router="up", camera="down", lte="up")
    h[CAMERA].reason = "snmp: timeout"
    way_in = t.way_in(t.sites[1])
    camera = t.devices[CAMERA]
    state, reason, calm = rules.device_state(camera, t, h, way_in, False, None, True, NOW)
    assert (state, reason, calm) == ("down", "snmp: timeout", False)
    h[ROUTER] = Health(confirmed="up", last="down", at=NOW)
    state, reason, calm = rules.device_state(camera, t, h, way_in, False, None, True, NOW)
    assert (state, reason, calm) == ("unreachable", "parent D2 does not answer", False)


def test_links_down_blame_the_way_in_not_what_is_behind_it() -> None:
    t = site()
    h = healths(modem="down", router="down", camera="down", lte="down")
    way_in = t.way_in(t.sites[1])
    assert way_in == {MODEM, LTE}
    assert rules.links_down(t.sites[1], t, h, ["down", "down"])
    modem = rules.device_state(t.devices[MODEM], t, h, way_in, True, None, True, NOW)
    assert modem[0] == "down"
    lte_behind = DeviceInfo(5, "D5", 1, None, "active")
    t.devices[5] = lte_behind
    h[5] = Health(confirmed="down", last="down", at=NOW)
    assert rules.device_state(lte_behind, t, h, way_in, True, None, True, NOW)[:2] == (
        "unreachable",
        rules.LINKS_DOWN,
    )


def test_an_unconfirmed_failure_keeps_what_was_shown() -> None:
    t = site()
    h = healths(modem="up", lte="up")
    h[CAMERA] = Health(confirmed="up", last="down", pending="down", pending_count=1, at=NOW)
    shown = Current("up", NOW, "all probes ok")
    way_in = t.way_in(t.sites[1])
    assert rules.device_state(t.devices[CAMERA], t, h, way_in, False, shown, True, NOW) == (
        "up",
        "all probes ok",
        False,
    )
    calm = rules.device_state(t.devices[MODEM], t, h, way_in, False, None, True, NOW)
    assert calm == ("up", "", True)


def test_the_site_headline() -> None:
    t = site()
    s = t.sites[1]
    assert rules.site_state(s, t, {SAT: "up", BACKUP: "up"}, {MODEM: "up"}, NOW)[:2] == (
        "connected",
        "on satellite link SAT-1",
    )
    state, reason, detail = rules.site_state(
        s, t, {SAT: "down", BACKUP: "up"}, {MODEM: "down", LTE: "up"}, NOW
    )
    assert (state, reason) == ("degraded", "on backup link LTE-1")
    assert detail == {
        "link_in_use": {"circuit_id": "LTE-1", "role": "backup", "medium": "lte"},
        "devices": {"down": 1, "up": 1},
    }
    down = rules.site_state(s, t, {SAT: "up", BACKUP: "up"}, {CAMERA: "down"}, NOW)
    assert down[:2] == ("degraded", "1 device(s) down: D3")
    assert rules.site_state(s, t, {SAT: "down", BACKUP: "down"}, {}, NOW)[0] == "disconnected"
    assert rules.site_state(s, t, {SAT: "unknown"}, {}, NOW)[0] == "unknown"
