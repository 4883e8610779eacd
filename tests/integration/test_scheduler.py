"""The scheduler against real TCP peers on 127.0.0.1: schedules follow the inventory, and a site
cut off from the network is unreachable, not down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.settings import Settings
from tests import factories
from tests.conftest import auth
from tests.dashboards import Peer, wait_for


@pytest.fixture
def live(settings: Settings, admin_token: str) -> Iterator[TestClient[Any]]:
    fast = settings.model_copy(
        update={
            "scheduler": True,
            "probe_interval_s": 0.4,
            "probe_jitter_s": 0.0,
            "reconcile_interval_s": 0.3,
            "probe_timeout_s": 5.0,  # a cut peer refuses at once; a slow answer is no failure
            "probe_retries": 0,
            "state_confirmations": 2,
        }
    )
    with TestClient(create_app(fast)) as client:
        client.headers.update(auth(admin_token))
        yield client


def results(client: TestClient[Any], device_id: int) -> int:
    return len(
        client.get(f"/api/v1/devices/{device_id}/results", params={"limit": 500}).json()["items"]
    )


def test_schedules_follow_the_inventory(live: TestClient[Any]) -> None:
    peer = Peer()
    factories.country(live)
    site = factories.site(live)
    model = factories.device_model(live, kind="router")
    device = factories.device(
        live,
        site=site["code"],
        model=model["slug"],
        probes=["tcp"],
        management_address="127.0.0.1",
        probe_port=peer.port,
    )
    wait_for(lambda: results(live, device["id"]) >= 2, what="the new device to be probed")
    first = live.get(f"/api/v1/devices/{device['id']}/results").json()["items"][0]
    assert first["kind"] == "tcp"
    assert first["status"] == "ok"
    status = live.get(f"/api/v1/sites/{site['code']}/status").json()
    assert next(d for d in status["devices"] if d["id"] == device["id"])["state"] == "up"

    retired = live.patch(
        f"/api/v1/devices/{device['id']}",
        json={"lifecycle": "retired"},
        headers={"If-Match": live.get(f"/api/v1/devices/{device['id']}").headers["etag"]},
    )
    assert retired.status_code == 200
    time.sleep(1.0)  # the reconcile runs every 0.3 s
    settled = results(live, device["id"])
    time.sleep(1.5)
    assert results(live, device["id"]) == settled
    peer.cut()


def test_a_site_cut_off_is_unreachable_not_down(live: TestClient[Any]) -> None:
    factories.country(live)
    hub = factories.site(live, code="NE-NB-HUB", kind="national_bureau")
    site = factories.site(live, code="NE-BCL-CUT")
    models = {
        k: factories.device_model(live, kind=k)["slug"]
        for k in ("satellite_modem", "router", "camera", "fingerprint_scanner")
    }
    peers = {k: Peer() for k in models}

    def device(kind: str, parent: int | None = None) -> dict[str, Any]:
        return factories.device(
            live,
            site=site["code"],
            model=models[kind],
            probes=["tcp"],
            management_address="127.0.0.1",
            probe_port=peers[kind].port,
            parent_id=parent,
        )

    modem = device("satellite_modem")
    router = device("router", modem["id"])
    camera = device("camera", router["id"])
    scanner = device("fingerprint_scanner")
    factories.link(
        live,
        site=site["code"],
        terminating_device_id=modem["id"],
        far_end_site=hub["code"],
        medium="satellite",
    )

    def site_state() -> dict[str, Any]:
        body: dict[str, Any] = live.get(f"/api/v1/sites/{site['code']}/status").json()
        return body

    def states() -> dict[int, str]:
        return {d["id"]: d["state"] for d in site_state()["devices"]}

    wait_for(
        lambda: site_state()["state"] == "connected" and set(states().values()) == {"up"},
        what="the site to come up",
    )

    for peer in peers.values():  # the satellite link drops: nothing at the site answers
        peer.cut()
    wait_for(lambda: site_state()["state"] == "disconnected", what="the site to be disconnected")
    wait_for(
        lambda: (
            states()[modem["id"]] == "down"
            and all(states()[d["id"]] == "unreachable" for d in (router, camera, scanner))
        ),
        what="the devices behind the link to be unreachable",
    )
    assert site_state()["links"][0]["state"] == "down"

    for peer in peers.values():
        peer.restore()
    wait_for(
        lambda: site_state()["state"] == "connected" and set(states().values()) == {"up"},
        what="the site to come back",
    )

    events = live.get("/api/v1/status/events", params={"site": site["code"], "limit": 500}).json()[
        "items"
    ]
    downs = {
        e["object_key"] for e in events if e["object_type"] == "device" and e["new_state"] == "down"
    }
    assert downs == {modem["serial"]}
    for d in (router, camera, scanner):
        mine = [
            (e["old_state"], e["new_state"])
            for e in events
            if e["object_id"] == d["id"] and e["object_type"] == "device"
        ]
        assert ("up", "unreachable") in mine
        assert ("unreachable", "up") in mine
    site_events = [e["new_state"] for e in reversed(events) if e["object_type"] == "site"]
    assert site_events[-2:] == ["disconnected", "connected"]
    availability = live.get(
        "/api/v1/availability", params={"object_type": "site", "key": site["code"]}
    ).json()
    assert 0 < availability["availability"] < 1
    assert availability["seconds"]["disconnected"] > 0
    for peer in peers.values():
        peer.cut()
