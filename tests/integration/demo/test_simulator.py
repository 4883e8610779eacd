"""The demo simulator against fleet's own probe drivers: real snmpsim and fakenos peers."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.demo import SimDevice, SimulatedFleet, SimulatorError, boot_uptime_s
from fleet.probes.base import get_probe, run_probe
from fleet.probes.ssh import SshProbe
from fleet.probes.types import (
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    SnmpV2c,
    SshCredentials,
    SshOptions,
)

from .sample_fleet import CAMERA, ROUTER, SWITCH, UPS, WORKSTATION, Running, free_port

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.anyio,
    # a probe of a silenced SSH server gives up while paramiko's reader thread still waits
    # for the banner; pytest reports that thread's error in whichever test runs when it ends
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

CUT_TIMEOUT = 1.0  # a probe timeout short enough to see a cut at once


def snmp_target(sim: SimulatedFleet, device_id: int, interface: int | None = None) -> ProbeTarget:
    ep = sim.endpoint(device_id)
    return ProbeTarget(
        device_id=device_id,
        address=ep.address,
        port=ep.snmp_port,
        snmp=SnmpOptions(SnmpV2c(ep.community)),
        interface_index=interface,
    )


def ssh_target(sim: SimulatedFleet, device_id: int, platform: str) -> ProbeTarget:
    ep = sim.endpoint(device_id)
    assert ep.ssh_port is not None
    credentials = SshCredentials(sim.ssh_username, sim.ssh_password)
    return ProbeTarget(
        device_id=device_id,
        address=ep.address,
        port=ep.ssh_port,
        ssh=SshOptions(platform, credentials, host_key=sim.ssh_host_key),
    )


async def poll(sim: SimulatedFleet, device_id: int, limit: float = 3.0) -> Reading:
    """One poll through fleet's default SNMP driver, ``limit`` seconds at most."""
    return await run_probe(get_probe("snmp"), snmp_target(sim, device_id), limit)


async def poll_until(
    sim: SimulatedFleet, device_id: int, status: ProbeStatus, within: float
) -> float:
    """Seconds until a poll of the device ends with ``status``; fails after ``within``."""
    t0 = time.monotonic()
    while True:
        reading = await poll(sim, device_id, CUT_TIMEOUT)
        if reading.status is status:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < within, f"device {device_id}: still {reading.status}"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def ssh_probe() -> Iterator[SshProbe]:
    probe = SshProbe(max_workers=4)
    try:
        yield probe
    finally:
        probe.close()


def test_starts_within_seconds(running: Running) -> None:
    assert running.start_seconds < 20
    # stable devices' SNMP agents, their SSH servers, and one per controllable device
    assert len(running.sim.pids) == 4


async def test_every_device_answers_snmp_with_its_firmware_and_uptime(running: Running) -> None:
    sim = running.sim
    for device in sim.devices.values():
        before = time.time()
        reading = await poll(sim, device.device_id)
        assert reading.status is ProbeStatus.OK, (device, reading.reason)
        assert reading.firmware_version == device.firmware, reading.sys_descr
        assert sim.started_at is not None
        boot = boot_uptime_s(device.device_id)
        assert reading.uptime_seconds is not None
        assert boot + (before - running.ready_at) - 1 <= reading.uptime_seconds
        assert reading.uptime_seconds <= boot + (time.time() - sim.started_at) + 1
        assert 2 <= len(reading.interfaces) <= 4
        assert {i.oper_status for i in reading.interfaces} == {"up"}


async def test_sys_descr_in_vendor_style(running: Running) -> None:
    router = await poll(running.sim, ROUTER)
    assert router.sys_descr == (
        "Cisco IOS Software, ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), "
        "Version 17.9.5, RELEASE SOFTWARE (fc1)"
    )
    switch = await poll(running.sim, SWITCH)
    assert switch.sys_descr is not None
    assert switch.sys_descr.startswith("Cisco IOS Software, C2960X Software")
    ups = await poll(running.sim, UPS)
    assert ups.sys_descr == "APC Smart-UPS SMT1500RMI2UC, firmware version 15.5"


async def test_uptime_and_counters_tick(running: Running) -> None:
    probe = get_probe("snmp")
    target = snmp_target(running.sim, SWITCH, interface=1)
    first = await run_probe(probe, target, 3)
    await asyncio.sleep(1.1)
    second = await run_probe(probe, target, 3)
    assert first.ok
    assert second.ok
    assert first.uptime_seconds is not None
    assert second.uptime_seconds is not None
    assert 1.0 <= second.uptime_seconds - first.uptime_seconds <= 3.0
    one, two = first.interfaces[0], second.interfaces[0]
    assert one.in_octets is not None
    assert two.in_octets is not None
    assert one.out_octets is not None
    assert two.out_octets is not None
    assert two.in_octets - one.in_octets >= 400_000  # the switch uplink: 400 kB/s each way
    assert two.out_octets > one.out_octets


async def test_router_answers_ssh_with_its_firmware(running: Running, ssh_probe: SshProbe) -> None:
    reading = await run_probe(ssh_probe, ssh_target(running.sim, ROUTER, "cisco_ios"), 10)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.firmware_version == "17.9.5"
    assert reading.values["hostname"] == "rtr01"
    assert reading.values["hardware"] == "ISR4331/K9"
    assert reading.uptime_seconds == pytest.approx(boot_uptime_s(ROUTER), abs=60)
    assert reading.host_key == running.sim.ssh_host_key


async def test_workstation_answers_ssh_as_linux(running: Running, ssh_probe: SshProbe) -> None:
    reading = await run_probe(ssh_probe, ssh_target(running.sim, WORKSTATION, "linux"), 10)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.values["os_id"] == "debian"
    assert reading.uptime_seconds == pytest.approx(boot_uptime_s(WORKSTATION), abs=60)


async def test_cut_silences_one_device_and_restore_brings_it_back(running: Running) -> None:
    sim = running.sim
    sim.cut(CAMERA)
    try:
        assert sim.is_cut(CAMERA)
        t0 = time.monotonic()
        cut, *others = await asyncio.gather(
            poll(sim, CAMERA, CUT_TIMEOUT),
            *(poll(sim, i, 3.0) for i in sim.devices if i != CAMERA),
        )
        assert cut.status is ProbeStatus.TIMEOUT
        assert time.monotonic() - t0 < CUT_TIMEOUT * 2
        assert all(r.ok for r in others), [(r.device_id, r.reason) for r in others if not r.ok]
    finally:
        sim.restore(CAMERA)
    assert not sim.is_cut(CAMERA)
    assert await poll_until(sim, CAMERA, ProbeStatus.OK, within=5) < 5


@pytest.mark.ssh
async def test_cut_silences_ssh_too(running: Running, ssh_probe: SshProbe) -> None:
    sim = running.sim
    sim.cut(WORKSTATION)
    try:
        target = ssh_target(sim, WORKSTATION, "linux")
        reading = await run_probe(ssh_probe, target, CUT_TIMEOUT)
        assert reading.status is ProbeStatus.TIMEOUT, reading.reason
        assert (await poll(sim, WORKSTATION, CUT_TIMEOUT)).status is ProbeStatus.TIMEOUT
    finally:
        sim.restore(WORKSTATION)
    reading = await run_probe(ssh_probe, target, 10)
    assert reading.status is ProbeStatus.OK, reading.reason


async def test_flap_alternates_until_restored(running: Running) -> None:
    sim = running.sim
    sim.flap(CAMERA, silent_s=0.8)  # 0.8 s silent, 0.8 s answering
    seen: list[ProbeStatus] = []
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.0:
            seen.append((await poll(sim, CAMERA, 0.3)).status)
            await asyncio.sleep(0.1)
    finally:
        sim.restore(CAMERA)
    assert ProbeStatus.OK in seen, seen
    assert ProbeStatus.TIMEOUT in seen, seen
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert changes >= 3, seen
    assert await poll_until(sim, CAMERA, ProbeStatus.OK, within=3) < 3
    await asyncio.sleep(1.0)  # no flapping left behind
    assert (await poll(sim, CAMERA, CUT_TIMEOUT)).ok


async def test_a_flap_of_no_length_is_refused_and_changes_nothing(running: Running) -> None:
    for silent_s, answering_s in ((0, None), (1, 0), (-1, 1)):
        with pytest.raises(ValueError, match="must be positive"):
            running.sim.flap(CAMERA, silent_s=silent_s, answering_s=answering_s)
    assert (await poll(running.sim, CAMERA, CUT_TIMEOUT)).ok  # still answering, not flapping


def test_only_controllable_devices_can_be_cut(running: Running) -> None:
    with pytest.raises(ValueError, match="not controllable"):
        running.sim.cut(ROUTER)
    with pytest.raises(KeyError):
        running.sim.flap(999, silent_s=0.5)


def test_rejects_addresses_outside_loopback() -> None:
    device = SimDevice(1, "X1", "camera", "Axis", "P1", "10.0.0.1", "1.0")
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        SimulatedFleet([device])


async def test_a_busy_port_is_named_before_anything_starts() -> None:
    port = free_port(socket.SOCK_DGRAM)
    devices = [
        SimDevice(1, "A1", "ups", "APC", "Smart-UPS", "127.77.2.1", "15.5"),
        SimDevice(2, "A2", "ups", "APC", "Smart-UPS", "127.77.2.2", "15.5"),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.77.2.2", port))
        sim = SimulatedFleet(devices, snmp_port=port)
        with pytest.raises(SimulatorError, match=rf"device 2: 127\.77\.2\.2:{port}/udp is in use"):
            await sim.start()
    assert sim.pids == []


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def simulator_processes(workdir: Path) -> list[int]:
    """Processes whose command line names a file under ``workdir``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in cmdline:
            found.append(int(entry.name))
    return found


async def test_stop_ends_every_process_even_a_cut_one_and_is_idempotent() -> None:
    devices = [
        SimDevice(1, "S1", "router", "Cisco", "ISR1111-8P", "127.77.3.1", "17.6.5", ssh=True),
        SimDevice(2, "S2", "camera", "Axis Communications", "P1468-LE", "127.77.3.2", "11.11.109"),
    ]
    sim = SimulatedFleet(
        devices,
        controllable={2},
        snmp_port=free_port(socket.SOCK_DGRAM),
        ssh_port=free_port(socket.SOCK_STREAM),
    )
    await sim.start()
    pids, workdir = sim.pids, sim.workdir
    assert workdir is not None
    assert len(pids) == 3
    assert all(alive(pid) for pid in pids)
    assert sorted(simulator_processes(workdir)) == sorted(pids)
    sim.flap(2, silent_s=0.1)
    sim.cut(2)  # stop() has to resume a paused process to end it
    sim.stop()
    assert not any(alive(pid) for pid in pids)
    assert simulator_processes(workdir) == []
    assert not workdir.exists()
    sim.stop()
    assert sim.pids == []


CHILD = """
import asyncio, os, sys
from fleet.demo import SimDevice, SimulatedFleet

async def main() -> None:
    sim = SimulatedFleet(
        [SimDevice(1, "C1", "ups", "APC", "Smart-UPS", "127.77.4.1", "15.5")],
        snmp_port=int(sys.argv[2]),
    )
    await sim.start()
    print(" ".join(map(str, sim.pids)), flush=True)
    if sys.argv[1] == "exit":
        return  # no stop(): the exit hook has to do it
    os.kill(os.getpid(), 9)

asyncio.run(main())
"""


@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_no_process_outlives_its_parent(ending: str) -> None:
    port = str(free_port(socket.SOCK_DGRAM))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, ending, port],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert child.returncode == (0 if ending == "exit" else -9), child.stderr
    pids = [int(pid) for pid in child.stdout.split()]
    assert len(pids) == 1
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)
