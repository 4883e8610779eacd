"""The upgrade loop end to end, with a real SNMP agent: a device below its model's minimum
firmware becomes a gap and a work order; the order is approved, scheduled, started and
completed; the next assessment verifies it only when the device really reports the new firmware
through a probe, and otherwise sends it back with the reason."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.database import Database
from fleet.demo import snmprec
from fleet.demo.devices import SimDevice
from fleet.demo.simulator import SimulatedFleet
from fleet.inventory.choices import SiteKind
from fleet.settings import Settings
from fleet.upgrades import profiles
from fleet.upgrades.rules import FirmwareMinimum, Profile
from tests import factories
from tests.conftest import auth, make_token

pytestmark = pytest.mark.snmp
ADDRESS = "127.77.0.1"
SERIAL = "HT2010-LOOP-1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def simulated(device_id: int, firmware: str, port: int) -> SimulatedFleet:
    device = SimDevice(device_id, SERIAL, "satellite_modem", "Hughes", "HT2010", ADDRESS, firmware)
    return SimulatedFleet([device], snmp_port=port, start_timeout=30)


async def _profile(url: str) -> None:
    profile = Profile(
        name="land-border",
        version=1,
        site_kinds=[SiteKind.border_crossing_land],
        rules=[FirmwareMinimum(id="firmware", type="firmware_minimum", severity="high")],
    )
    wanted = {"land-border": profiles.LocatedProfile(profile, "test", 1)}
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
            await session.commit()
    finally:
        await db.dispose()


@pytest.fixture
def live(settings: Settings, admin_token: str) -> Iterator[TestClient[Any]]:
    quiet = settings.model_copy(
        update={"scheduler": True, "probe_interval_s": 3600, "probe_jitter_s": 0}
    )
    with TestClient(create_app(quiet)) as client:
        client.headers.update(auth(admin_token))
        yield client


def move(client: TestClient[Any], order_id: int, to: str, **extra: Any) -> dict[str, Any]:
    url = f"/api/v1/work-orders/{order_id}"
    response = client.post(
        f"{url}/transitions",
        json={"to": to, **extra},
        headers={"If-Match": client.get(url).headers["etag"]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("upgraded", [True, False], ids=["firmware-upgraded", "firmware-unchanged"])
def test_work_is_verified_by_what_the_probe_sees(
    live: TestClient[Any], settings: Settings, db_url: str, upgraded: bool
) -> None:
    asyncio.run(_profile(db_url))
    port = free_udp_port()
    factories.country(live)
    site = factories.site(live, code="NE-BCL-LOOP")
    model = factories.device_model(
        live,
        slug="hughes-ht2010",
        manufacturer="Hughes",
        model="HT2010",
        kind="satellite_modem",
        minimum_firmware="6.8.0.40",
    )
    assert (
        live.post(
            "/api/v1/credential-profiles",
            json={
                "name": "loop-ro",
                "kind": "snmp_v2c",
                "secret": {"community": snmprec.community_for(SERIAL)},
            },
        ).status_code
        == 201
    )
    device = factories.device(
        live,
        serial=SERIAL,
        site=site["code"],
        model=model["slug"],
        firmware_version="6.7.0.21",
        management_address=ADDRESS,
        probes=["snmp"],
        snmp_profile="loop-ro",
        probe_port=port,
    )
    engineer = make_token(db_url, "eng-loop", "field_engineer", ["NE"])

    fleet = simulated(device["id"], "6.7.0.21", port)
    asyncio.run(fleet.start())
    try:
        probed = live.post(f"/api/v1/devices/{device['id']}/probe").json()
        assert probed["results"][0]["status"] == "ok"
        assert probed["results"][0]["data"]["firmware_version"] == "6.7.0.21"
    finally:
        fleet.stop()

    first = live.post("/api/v1/assessments", json={"site": site["code"]}).json()
    assert (first["opened"], first["work_orders_created"]) == (1, 1)
    order = live.get("/api/v1/work-orders", params={"site": site["code"]}).json()["items"][0]
    assert order["kind"] == "firmware_upgrade"
    assert order["state"] == "proposed"
    gap = live.get(f"/api/v1/work-orders/{order['id']}").json()["gap"]
    assert gap["actual"] == "6.7.0.21 (observed)"

    move(live, order["id"], "approved", note="budget line 4")
    move(
        live,
        order["id"],
        "scheduled",
        maintenance={"starts_at": "2026-01-01T06:00:00Z", "ends_at": "2026-01-01T10:00:00Z"},
    )
    url = f"/api/v1/work-orders/{order['id']}"
    assert (
        live.patch(
            url, json={"assignee": "eng-loop"}, headers={"If-Match": live.get(url).headers["etag"]}
        ).status_code
        == 200
    )
    windows = live.get("/api/v1/maintenance-windows", params={"site": site["code"]}).json()["items"]
    assert len(windows) == 1
    with TestClient(create_app(settings)) as field:
        field.headers.update(auth(engineer))
        move(field, order["id"], "in_progress", note="on site")
        move(
            field,
            order["id"],
            "completed",
            note="flashed 6.8.0.40" if upgraded else "could not flash",
        )

    fleet = simulated(device["id"], "6.8.0.40" if upgraded else "6.7.0.21", port)
    asyncio.run(fleet.start())
    try:
        probed = live.post(f"/api/v1/devices/{device['id']}/probe").json()
        assert probed["results"][0]["status"] == "ok"
    finally:
        fleet.stop()

    second = live.post("/api/v1/assessments", json={"site": site["code"]}).json()
    final = live.get(url).json()
    journal = live.get(f"{url}/journal").json()["items"]
    if upgraded:
        assert (second["verified"], second["resolved"], second["reopened"]) == (1, 1, 0)
        assert final["state"] == "verified"
        assert final["gap"]["resolved_at"] is not None
        assert journal[-1]["to_state"] == "verified"
        assert journal[-1]["actor"] == "assessment"
    else:
        assert (second["verified"], second["resolved"], second["reopened"]) == (0, 0, 1)
        assert final["state"] == "in_progress"
        assert journal[-1]["to_state"] == "in_progress"
        assert "still 6.7.0.21 (observed)" in journal[-1]["note"]
    assert [e["to_state"] for e in journal[:6]] == [
        "proposed",
        "approved",
        "scheduled",
        None,
        "in_progress",
        "completed",
    ]
    assert [e["actor"] for e in journal[4:6]] == ["eng-loop", "eng-loop"]
