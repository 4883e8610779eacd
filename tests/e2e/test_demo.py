"""``fleet demo`` as a process: the sample fleet on simulated devices comes up, a border site
loses its satellite link (the device it is reached by goes down, the rest of it unreachable) and
gets it back, and a flapping camera is damped.

The demo runs fast, on free ports: a probe every 3 s (the probes' jitter and timeout and the
camera's flapping follow the interval), so the show takes about 30 s after 10 s of start-up.
Every phase is polled against a deadline set by the demo's own timeline: the fleet is up before
the cut, the site is disconnected before the link comes back, and connected again before the
next cut shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.snmp, pytest.mark.ssh]

PROBE_INTERVAL = 3.0  # s; the probe timeout is then 1.5 s and the camera flaps every 7.5 s
CUT_AFTER = 10.0  # the fleet is up: first rounds within 1.6 s, a failed one confirmed 2 later
RESTORE_AFTER = 12.0  # blaming the site's way in takes two failed rounds of each of its devices
BOOT_TIMEOUT = 60.0  # the simulator's own start timeout
DAMPING_TIMEOUT = 30.0  # for a single failed round of the camera, once the site is back
POLL = 0.3
T = TypeVar("T")


@dataclass
class Demo:
    process: subprocess.Popen[str]
    base: str
    tmp: Path  # the demo's temp directory (its database, the simulator's files)
    output: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    api: httpx.Client | None = None

    def client(self, token: str) -> httpx.Client:
        """An API client with ``token`` (closed with the demo)."""
        headers = {"Authorization": f"Bearer {token}"}
        self.api = httpx.Client(base_url=self.base, headers=headers, timeout=5)
        return self.api

    def line(self, pattern: str, deadline: float) -> re.Match[str]:
        """The first line of output matching ``pattern``, waiting until ``deadline``."""
        while True:
            for line in list(self.output):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader catch up with the last lines
                raise AssertionError(f"fleet demo exited early:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r}:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        return "".join(self.output[-lines:])

    def stop(self) -> int:
        """End the demo as a user does (Ctrl-C), then less politely; its return code."""
        for send, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(send)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
        return self.process.wait()


def _free_port(kind: int) -> int:
    """A port free on every address (the devices listen at many loopback addresses)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The running simulator processes (``python -m fleet.demo CONFIG``) started by ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"fleet.demo" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether a simulator process still runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat[0] != "Z" and b"fleet.demo" in cmdline


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = _free_port(socket.SOCK_STREAM)
    command = [
        sys.executable,
        "-m",
        "fleet.cli",
        "demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--snmp-port",
        str(_free_port(socket.SOCK_DGRAM)),
        "--ssh-port",
        str(_free_port(socket.SOCK_STREAM)),
        "--probe-interval",
        f"{PROBE_INTERVAL:g}",
        "--cut-after",
        f"{CUT_AFTER:g}",
        "--restore-after",
        f"{RESTORE_AFTER:g}",
    ]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "FLEET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",  # it makes its own
        "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
        "FLEET_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Demo(process, f"http://127.0.0.1:{port}", tmp)
    reader = threading.Thread(
        target=lambda: (
            running.output.extend(iter(process.stdout.readline, "")) if process.stdout else None
        ),
        daemon=True,
    )
    reader.start()
    try:
        yield running
    finally:
        if running.api is not None:
            running.api.close()
        running.stop()
        # a simulator process paused by a cut cannot notice that its parent is gone: end any
        # that outlived the demo (the test itself fails on them, see test_demo_timeline)
        for pid in running.children + _children(process.pid):
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)


def _wait(what: str, check: Callable[[], tuple[bool, T]], deadline: float, demo: Demo) -> T:
    """Poll ``check`` (whether it is done, and what it saw) until it is done; fail at
    ``deadline``, naming what it saw last, or as soon as the demo ends."""
    seen: object = None
    while True:
        if demo.process.poll() is not None:
            raise AssertionError(f"fleet demo exited while waiting for {what}:\n{demo.tail()}")
        try:
            done, result = check()
        except httpx.HTTPError as exc:
            seen = exc
        else:
            if done:
                return result
            seen = result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not in time; last seen: {seen}\n{demo.tail(15)}")
        time.sleep(POLL)


def _way_in(status: dict[str, Any]) -> set[int]:
    """The devices a site is reached by: its links' terminating devices and their parents."""
    parents = {d["id"]: d["parent_id"] for d in status["devices"]}
    found: set[int] = set()
    for link in status["links"]:
        device_id = link["terminating_device_id"] if link["lifecycle"] == "active" else None
        while device_id is not None and device_id not in found:
            found.add(device_id)
            device_id = parents.get(device_id)
    return found


def _probed(status: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {d["id"]: d for d in status["devices"] if d["probes"]}


def _summary(status: dict[str, Any]) -> str:
    devices = ", ".join(f"{d['serial']} {d['state']}" for d in _probed(status).values())
    return f"{status['code']} {status['state']} ({status['reason']}); {devices}"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _camera_damped(results: list[dict[str, Any]], events: list[dict[str, Any]]) -> bool:
    """Whether the camera's record shows damping yet.

    Damping (two rounds in a row must agree before a device's state changes) means that every
    change after the first follows two rounds agreeing with it, and that a single failed round
    between two good ones changes nothing. Fails at once if a change broke the rule."""
    rounds = sorted(
        (
            _at(r["at"]),
            _at(r["at"]) + timedelta(milliseconds=r["duration_ms"]),
            r["status"] == "ok",
        )
        for r in results
    )
    changes = sorted((_at(e["at"]), e["new_state"]) for e in events if e["old_state"] != "unknown")
    for at, state in changes:
        if state not in ("up", "down"):
            continue
        before = [ok for _, ended, ok in rounds if ended <= at]
        assert len(before) >= 2, f"camera turned {state} at {at} after {len(before)} round(s)"
        assert before[-2:] == [state == "up"] * 2, (
            f"camera turned {state} at {at} after rounds ok={before[-2:]}: not damped"
        )
    for (_, _, ok_before), (failed_at, _, ok), (next_at, _, ok_after) in zip(
        rounds, rounds[1:], rounds[2:], strict=False
    ):
        if ok_before and not ok and ok_after:
            assert not [at for at, _ in changes if failed_at <= at < next_at], (
                f"the camera's single failed round at {failed_at} changed its state"
            )
            return True
    return False


def test_demo_timeline(demo: Demo) -> None:
    boot = time.monotonic()
    token = demo.line(r"FLEET_TOKEN=(\S+)", boot + BOOT_TIMEOUT)[1]
    show = demo.line(r"site (\S+) loses its satellite link.*camera (\S+) flaps", boot + 5)
    t0 = time.monotonic()  # the show's clock started just before its line was printed
    cut_site, camera = show[1], show[2]
    cut_at, restore_at = t0 + CUT_AFTER, t0 + CUT_AFTER + RESTORE_AFTER
    demo.children = _children(demo.process.pid)
    assert len(demo.children) >= 3, demo.children  # stable SNMP, stable SSH, one per cut device
    api = demo.client(token)

    def site() -> dict[str, Any]:
        response = api.get(f"/api/v1/sites/{cut_site}/status")
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    # (1) the sample fleet comes up: the cut site and most others connected, before the cut
    def fleet_up() -> tuple[bool, dict[str, str]]:
        response = api.get("/api/v1/status/sites", params={"limit": 500})
        response.raise_for_status()
        states = {s["code"]: s["state"] for s in response.json()["items"]}
        connected = sum(state == "connected" for state in states.values())
        return states.get(cut_site) == "connected" and connected >= len(states) * 3 / 4, states

    sites = _wait("the fleet connected", fleet_up, cut_at, demo)
    assert len(sites) > 10

    # (2) the link is cut: the site is disconnected, the device it is reached by is down and
    # every other device there unreachable, before the link comes back
    def cut_off() -> tuple[bool, dict[str, Any]]:
        status = site()
        states = {i: d["state"] for i, d in _probed(status).items()}
        down = [i for i, state in states.items() if state == "down"]
        others = {state for i, state in states.items() if i not in down}
        done = status["state"] == "disconnected" and len(down) == 1 and others == {"unreachable"}
        return done, status

    status = _wait(f"{cut_site} disconnected", cut_off, restore_at, demo)
    probed = _probed(status)
    (blamed,) = [i for i, d in probed.items() if d["state"] == "down"]
    assert blamed in _way_in(status), (blamed, status["links"])
    assert len(probed) >= 3

    # (3) the link is back: the site is connected again before the next cut shows (its way in
    # is confirmed down two rounds after that cut at the earliest)
    def connected() -> tuple[bool, str]:
        status = site()
        return status["state"] == "connected", _summary(status)

    next_cut_shows = restore_at + CUT_AFTER + PROBE_INTERVAL
    _wait(f"{cut_site} connected again", connected, next_cut_shows, demo)
    events = api.get("/api/v1/status/events", params={"site": cut_site, "limit": 500}).json()
    downs = [
        (e["object_key"], e["cause"])
        for e in events["items"]
        if e["object_type"] == "device" and e["object_id"] != blamed and e["new_state"] == "down"
    ]
    assert not downs, f"devices behind the cut link were blamed: {downs}"
    changes = {(e["object_id"], e["new_state"]) for e in events["items"]}
    assert all((i, "unreachable") in changes for i in probed if i != blamed)
    assert (blamed, "down") in changes

    # (4) the camera flaps all along, but a single failed round does not change its state
    (device,) = api.get("/api/v1/devices", params={"serial": camera}).json()["items"]

    def camera_events() -> list[dict[str, Any]]:
        response = api.get("/api/v1/status/events", params={"site": device["site"], "limit": 500})
        response.raise_for_status()
        return [
            e
            for e in response.json()["items"]
            if e["object_type"] == "device" and e["object_id"] == device["id"]
        ]

    def damped() -> tuple[bool, str]:
        # results and events are written together: read the events on both sides of the
        # results, so that every round read has its changes read too
        events = camera_events()
        response = api.get(f"/api/v1/devices/{device['id']}/results", params={"limit": 500})
        response.raise_for_status()
        if camera_events() != events:
            return False, "changing"
        assert events, f"camera {camera} has no state at all"
        results = response.json()["items"]
        return _camera_damped(results, events), f"{len(results)} rounds, {len(events)} changes"

    _wait(f"camera {camera} damped", damped, time.monotonic() + DAMPING_TIMEOUT, demo)

    # the demo ends on Ctrl-C, and takes every simulator process and temp file with it
    assert demo.stop() == 0, demo.tail()
    deadline = time.monotonic() + 5
    while any(map(_alive, demo.children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in demo.children if _alive(pid)], "simulator processes outlived it"
    assert not list(demo.tmp.iterdir())
