"""The edge poller end to end: a real `fleet serve` and a real `fleet edge` whose uplink is a
proxy the test cuts. During the cut a device goes down and up again and the edge restarts;
when the uplink returns, central's history shows the toggle at its times, each round once,
even after a batch whose answer was lost was sent again; central never probed the device."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.e2e.conftest import Served
from tests.e2e.edge_rig import Port, Uplink
from tests.e2e.processes import start, stop

pytestmark = pytest.mark.e2e


@pytest.fixture
def served_env() -> dict[str, str]:
    return {
        "FLEET_LOAD_SAMPLE_WHEN_EMPTY": "false",
        "FLEET_PROBE_INTERVAL_S": "1",
        "FLEET_PROBE_JITTER_S": "0",
        "FLEET_RECONCILE_INTERVAL_S": "1",
    }


def _api(served: Served) -> httpx.Client:
    return httpx.Client(
        base_url=f"{served.base}/api/v1",
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=10,
    )


def _fleet(api: httpx.Client, port: int) -> tuple[int, str]:
    """A border site with one camera answering TCP at ``port``; an edge token for the site."""
    for path, body in (
        ("countries", {"code": "NE", "name": "Niger", "region": "Sahel"}),
        (
            "sites",
            {
                "code": "NE-BCL-EDGE",
                "name": "Border post",
                "kind": "border_crossing_land",
                "country": "NE",
                "latitude": 13.5,
                "longitude": 2.1,
                "criticality": 4,
                "timezone": "Africa/Niamey",
            },
        ),
        ("device-models", {"slug": "cam", "manufacturer": "Axis", "model": "P1", "kind": "camera"}),
    ):
        assert api.post(path, json=body).status_code == 201
    device = api.post(
        "devices",
        json={
            "serial": "EDGE0001",
            "site": "NE-BCL-EDGE",
            "model": "cam",
            "lifecycle": "active",
            "probes": ["tcp"],
            "management_address": "127.0.0.1",
            "probe_port": port,
        },
    )
    assert device.status_code == 201, device.text
    token = api.post("tokens", json={"name": "edge", "role": "edge", "sites": ["NE-BCL-EDGE"]})
    assert token.status_code == 201, token.text
    return int(device.json()["id"]), str(token.json()["secret"])


def _until(what: Callable[[], Any], seconds: float, why: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := what():
            return found
        time.sleep(0.3)
    raise AssertionError(f"not within {seconds} s: {why}")


def _results(api: httpx.Client, device_id: int) -> list[dict[str, Any]]:
    body = api.get(f"devices/{device_id}/results", params={"limit": 500}).json()
    items: list[dict[str, Any]] = body["items"]
    return items


def _device_events(api: httpx.Client, device_id: int) -> list[tuple[datetime, str]]:
    items = api.get(
        "status/events", params={"object_type": "device", "object_id": device_id}
    ).json()["items"]
    return sorted((datetime.fromisoformat(e["at"]), e["new_state"]) for e in items)


@pytest.fixture
def edge_process(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    key = Fernet.generate_key().decode()

    def run(central: str, token: str) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "FLEET_EDGE_TOKEN": token,
            "FLEET_EDGE_KEY": key,
            "FLEET_EDGE_HEARTBEAT_S": "1",
            "FLEET_EDGE_BACKOFF_MAX_S": "1",
            "FLEET_EDGE_TIMEOUT_S": "1",
            "FLEET_PROBE_TIMEOUT_S": "0.5",
            "FLEET_PROBE_RETRIES": "0",
            "FLEET_PROBE_JITTER_S": "0",
            "FLEET_LOG_FORMAT": "json",
        }
        args = [sys.executable, "-m", "fleet.cli", "edge", "--central", central]
        process, _ = start([*args, "--site", "NE-BCL-EDGE", "--data", "edge.db"], tmp_path, env)
        started.append(process)
        return process

    yield run
    for process in started:
        stop(process)


def test_an_outage_is_back_filled_at_its_times_each_round_once(
    served: Served, edge_process: Callable[..., subprocess.Popen[str]]
) -> None:
    device = Port()
    uplink: Uplink | None = None
    with _api(served) as api:
        device_id, token = _fleet(api, device.port)
        uplink = Uplink(int(served.base.rsplit(":", 1)[1]))
        central = f"http://127.0.0.1:{uplink.port}"
        edge = edge_process(central, token)
        _until(lambda: _device_events(api, device_id), 20, "the device up through the edge")
        assert _device_events(api, device_id)[-1][1] == "up"
        site = api.get("sites/NE-BCL-EDGE/status").json()
        assert site["edge"]["reach"] == "in_touch"

        uplink.set("cut")
        cut_at = datetime.now(UTC)
        time.sleep(1.5)
        device.down()
        down_at = datetime.now(UTC)
        time.sleep(3)
        restart_at = datetime.now(UTC)
        stop(edge)  # the edge restarts during the cut: its buffer and targets are in its file
        edge = edge_process(central, token)
        time.sleep(3.5)  # it starts and probes on from the targets in its file
        device.up()
        up_at = datetime.now(UTC)
        time.sleep(3)
        # nothing reached central during the cut, and central did not probe the device itself
        assert all(datetime.fromisoformat(r["at"]) < cut_at for r in _results(api, device_id))

        uplink.set("mute")  # the first batch is stored, its answer lost: the edge sends it again
        time.sleep(2.5)
        uplink.set("open")
        restored_at = datetime.now(UTC)
        events = _until(
            lambda: (
                (found := _device_events(api, device_id))[-1][1] == "up"
                and len(found) >= 3
                and found
            ),
            20,
            "the outage back-filled",
        )
        _, down, up = events[-3:]
        assert down[1] == "down"
        assert down_at < down[0] < up_at, (down_at, down, up_at)
        assert up_at < up[0] < restored_at, (up_at, up, restored_at)
        results = _results(api, device_id)
        times = [r["at"] for r in results]
        assert len(times) == len(set(times)), "a round stored twice"
        before_restart = [
            r["status"] for r in results if cut_at <= datetime.fromisoformat(r["at"]) < restart_at
        ]
        assert {"ok", "refused"} <= set(before_restart), "the buffer was lost at the restart"
        after_restart = [r for r in results if datetime.fromisoformat(r["at"]) > restart_at]
        assert {r["status"] for r in after_restart} >= {"ok", "refused"}
        _until(
            lambda: any(
                '"edge_rounds_stored"' in line and '"duplicates": 0' not in line
                for line in list(served.output)
            ),
            10,
            "the batch whose answer was lost sent again, and its rounds found stored",
        )
        assert len(_results(api, device_id)) >= len(results)
        times = [r["at"] for r in _results(api, device_id)]
        assert len(times) == len(set(times)), "a round stored twice"
        site = api.get("sites/NE-BCL-EDGE/status").json()
        assert site["edge"]["dropped"] == 0
        assert edge.poll() is None
    uplink.close()
    device.down()
