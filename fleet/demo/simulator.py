"""Real SNMP and SSH peers on 127.0.0.0/8 for a simulated fleet, with cut, restore and flap.

Every device answers SNMP v2c at its own loopback address on one port (``snmp_port``), with
its own community (:func:`fleet.demo.snmprec.community_for`) selecting its own ``.snmprec``
data in snmpsim: vendor sysDescr with the firmware, a ticking sysUpTime, 2 to 4 interfaces up
with ticking 64-bit counters. Devices with ``ssh=True`` also answer SSH on ``ssh_port`` at
their address (fakenos: routers as ``cisco_ios``, the rest as a Debian-like ``linux``), with
:attr:`SimulatedFleet.ssh_username` / :attr:`SimulatedFleet.ssh_password`.

Processes (see :mod:`fleet.demo.peer`): the SNMP agents of all the devices that are never cut
in one, their SSH servers in another (so they start on two cores), and one per *controllable*
device with both its agent and its server, so that :meth:`SimulatedFleet.cut` can pause that
process alone.
A cut device stops answering at once (probes time out); :meth:`SimulatedFleet.restore`
resumes it and it answers again at once. Only controllable devices can be cut or flapped.

Usage, from asyncio code (``start`` is a coroutine; every other method is plain and quick)::

    async with SimulatedFleet(devices, controllable={7, 12}) as sim:
        ep = sim.endpoint(7)          # address, snmp_port, community, ssh_port
        sim.cut(7)                    # device 7 goes silent
        sim.restore(7)
        sim.flap(12, silent_s=10)     # 10 s silent, 10 s answering, ... until stop()
    # stopped: every process ended, temp files removed

``stop()`` is idempotent and also runs at interpreter exit. snmpsim answers about 100 polls a
second per process: poll a large simulated fleet with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from fleet.demo import nos, snmprec
from fleet.demo.devices import (
    DEFAULT_SNMP_PORT,
    DEFAULT_SSH_PORT,
    SimDevice,
    SimEndpoint,
    SimulatorError,
    address_of,
    boot_uptime_s,
    check,
    community_of,
)
from fleet.demo.peer import PeerConfig, PeerProcess, SshHost, variation_modules_dir
from fleet.probes.base import get_probe, run_probe
from fleet.probes.types import ProbeTarget, SnmpOptions, SnmpV2c

#: SNMP readiness checks in flight at once (snmpsim answers one request at a time)
READY_CONCURRENCY = 8
READY_PROBE_TIMEOUT = 1.0


class SimulatedFleet:
    """Real SNMP (snmpsim) and SSH (fakenos) peers for ``devices``; see the module doc."""

    ssh_username = "fleet-demo"
    ssh_password = "fleet-demo-pass"  # noqa: S105 (a fixed demo credential)

    def __init__(
        self,
        devices: Iterable[SimDevice],
        *,
        controllable: Collection[int] = (),
        snmp_port: int = DEFAULT_SNMP_PORT,
        ssh_port: int = DEFAULT_SSH_PORT,
        start_timeout: float = 60.0,
    ) -> None:
        self.devices: dict[int, SimDevice] = {}
        for device in devices:
            check(device)
            if device.device_id in self.devices:
                raise ValueError(f"device id {device.device_id} appears twice")
            self.devices[device.device_id] = device
        for what, key in (("address", address_of), ("community", community_of)):
            values = [key(d) for d in self.devices.values()]
            if len(set(values)) < len(values):
                twice = sorted({v for v in values if values.count(v) > 1})
                raise ValueError(f"two devices have the same {what}: {twice[:5]}")
        unknown = set(controllable) - set(self.devices)
        if unknown:
            raise ValueError(f"controllable ids not among the devices: {sorted(unknown)}")
        self.controllable = frozenset(controllable)
        self.snmp_port = snmp_port
        self.ssh_port = ssh_port
        self.start_timeout = start_timeout
        self.started_at: float | None = None  # time.time() when start() began
        self._workdir: Path | None = None
        self._processes: dict[str, PeerProcess] = {}
        self._process_of: dict[int, PeerProcess] = {}
        self._cut: set[int] = set()
        self._flappers: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.RLock()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, check_all: bool = False) -> SimulatedFleet:
        """Start every process and wait until it answers: every SSH server, and the SNMP
        agents of a few devices per process (first, middle, last; every device with
        ``check_all``, about 10 ms a device more). Raises :class:`SimulatorError` naming
        what did not start (everything is stopped then)."""
        if self._processes:
            raise SimulatorError("already started")
        self._check_ports_free()
        atexit.register(self.stop)
        try:
            self.started_at = time.time()
            self._workdir = Path(tempfile.mkdtemp(prefix="fleet-demo-"))
            stable = [d for d in self.devices.values() if d.device_id not in self.controllable]
            # the stable devices' SNMP and SSH servers run in two processes, to start on two
            # cores; a controllable device's both run in its own process, to pause together
            groups = [("stable-snmp", stable, True, False)] if stable else []
            if any(d.ssh for d in stable):
                groups.append(("stable-ssh", stable, False, True))
            for i in sorted(self.controllable):
                groups.append((f"device-{i}", [self.devices[i]], True, True))
            for name, members, snmp, ssh in groups:
                config = self._config(name, members, snmp=snmp, ssh=ssh)
                process = PeerProcess(name, config, self._workdir)
                self._processes[name] = process
                process.start()
            for i in self.controllable:
                self._process_of[i] = self._processes[f"device-{i}"]
            agents = [[d.device_id for d in members] for _, members, snmp, _ in groups if snmp]
            if not check_all:  # an snmpsim process binds every endpoint before it answers
                agents = [_first_middle_last(ids) for ids in agents]
            await self._wait_ready(agents, time.monotonic() + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop flapping, end every process, remove the temp files. Idempotent."""
        with self._lock:
            flappers = list(self._flappers.values())
            self._flappers.clear()
        for _, stop_event in flappers:
            stop_event.set()
        for thread, _ in flappers:
            thread.join(timeout=5)
        for process in self._processes.values():
            process.stop()
        self._processes.clear()
        self._process_of.clear()
        self._cut.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        atexit.unregister(self.stop)

    async def __aenter__(self) -> SimulatedFleet:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        """Process ids of the running simulator processes."""
        return [p.pid for p in self._processes.values() if p.pid is not None]

    @property
    def workdir(self) -> Path | None:
        """The temp directory holding the data files and logs while running."""
        return self._workdir

    @functools.cached_property
    def ssh_host_key(self) -> str:
        """The host key every simulated SSH server presents, as ``"<type> <base64>"``."""
        import io

        import paramiko  # type: ignore[import-untyped]
        from fakenos.plugins.servers.ssh_server_paramiko import DEFAULT_SSH_KEY

        key = paramiko.RSAKey(file_obj=io.StringIO(DEFAULT_SSH_KEY))
        return f"{key.get_name()} {key.get_base64()}"

    # --- lookups ------------------------------------------------------------------------------

    def endpoint(self, device_id: int) -> SimEndpoint:
        device = self._device(device_id)
        return SimEndpoint(
            address=device.address,
            snmp_port=self.snmp_port,
            community=snmprec.community_for(device.serial),
            ssh_port=self.ssh_port if device.ssh else None,
        )

    def snmp_target(self, device_id: int, interface_index: int | None = None) -> ProbeTarget:
        """A probe target for the device's SNMP agent (v2c, its community)."""
        ep = self.endpoint(device_id)
        return ProbeTarget(
            device_id=device_id,
            address=ep.address,
            port=ep.snmp_port,
            snmp=SnmpOptions(SnmpV2c(ep.community)),
            interface_index=interface_index,
        )

    def is_cut(self, device_id: int) -> bool:
        return device_id in self._cut

    # --- controls -----------------------------------------------------------------------------

    def cut(self, device_id: int) -> None:
        """Silence the device (SNMP and SSH) until :meth:`restore`; ends its flapping."""
        process = self._controlled(device_id)
        self._stop_flapping(device_id)
        self._set(device_id, process, up=False)

    def restore(self, device_id: int) -> None:
        """Make the device answer again; ends its flapping."""
        process = self._controlled(device_id)
        self._stop_flapping(device_id)
        self._set(device_id, process, up=True)

    def flap(self, device_id: int, silent_s: float, answering_s: float | None = None) -> None:
        """Alternate until :meth:`stop`, :meth:`cut` or :meth:`restore`: silent for
        ``silent_s``, answering for ``answering_s`` (as long as silent unless given), starting
        silent."""
        answering_s = silent_s if answering_s is None else answering_s
        if silent_s <= 0 or answering_s <= 0:
            raise ValueError("silent_s and answering_s must be positive")
        process = self._controlled(device_id)
        self._stop_flapping(device_id)
        stop_event = threading.Event()
        thread = threading.Thread(
            target=self._flap_loop,
            args=(device_id, process, silent_s, answering_s, stop_event),
            name=f"fleet-demo-flap-{device_id}",
            daemon=True,
        )
        with self._lock:
            self._flappers[device_id] = (thread, stop_event)
        thread.start()

    def _flap_loop(
        self,
        device_id: int,
        process: PeerProcess,
        silent_s: float,
        answering_s: float,
        stop_event: threading.Event,
    ) -> None:
        up = False
        while not stop_event.is_set():
            with self._lock:
                if stop_event.is_set():
                    return
                self._set(device_id, process, up=up)
            stop_event.wait(answering_s if up else silent_s)
            up = not up

    def _stop_flapping(self, device_id: int) -> None:
        with self._lock:
            flapper = self._flappers.pop(device_id, None)
        if flapper is not None:
            thread, stop_event = flapper
            stop_event.set()
            thread.join(timeout=5)

    def _set(self, device_id: int, process: PeerProcess, *, up: bool) -> None:
        with self._lock:
            if up:
                process.resume()
                self._cut.discard(device_id)
            else:
                process.pause()
                self._cut.add(device_id)

    # --- helpers ------------------------------------------------------------------------------

    def _device(self, device_id: int) -> SimDevice:
        try:
            return self.devices[device_id]
        except KeyError:
            raise KeyError(f"no simulated device {device_id}") from None

    def _controlled(self, device_id: int) -> PeerProcess:
        self._device(device_id)
        if device_id not in self.controllable:
            raise ValueError(f"device {device_id} is not controllable (pass it in controllable=)")
        process = self._process_of.get(device_id)
        if process is None:
            raise SimulatorError("the simulator is not running")
        code = process.returncode()
        if code is not None:
            raise SimulatorError(f"device {device_id}'s simulator process exited with {code}")
        return process

    def _check_ports_free(self) -> None:
        """Fail fast, naming the device, when another socket holds a device's port (a second
        agent on the same UDP port would start, and never see a request)."""
        for device in self.devices.values():
            ports = [(socket.SOCK_DGRAM, self.snmp_port, "udp")]
            ports += [(socket.SOCK_STREAM, self.ssh_port, "tcp")] if device.ssh else []
            for kind, port, name in ports:
                with socket.socket(socket.AF_INET, kind) as sock:
                    if kind == socket.SOCK_STREAM:  # a closed connection's TIME_WAIT is fine
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind((device.address, port))
                    except OSError as exc:
                        raise SimulatorError(
                            f"device {device.device_id}: {device.address}:{port}/{name} "
                            f"is in use ({exc.strerror})"
                        ) from None

    def _config(
        self, name: str, members: Sequence[SimDevice], *, snmp: bool, ssh: bool
    ) -> PeerConfig:
        """A process's configuration: SNMP agents (data files written here) for ``members``
        if ``snmp``, SSH servers for those with ``ssh=True`` if ``ssh``."""
        assert self._workdir is not None
        root = self._workdir / name
        ssh_hosts = [
            self._ssh_host(d, boot_uptime_s(d.device_id)) for d in members if ssh and d.ssh
        ]
        args: list[str] = []
        if snmp:
            data = root / "data"
            data.mkdir(parents=True)
            for device in members:
                rows = snmprec.device_rows(
                    kind=device.kind,
                    manufacturer=device.manufacturer,
                    model=device.model,
                    firmware=device.firmware,
                    hostname=device.name,
                    uptime_ticks=boot_uptime_s(device.device_id) * 100,
                )
                community = snmprec.community_for(device.serial)
                (data / f"{community}.snmprec").write_text(snmprec.render(rows))
            args = [
                f"--data-dir={data}",
                f"--cache-dir={root / 'cache'}",
                f"--variation-modules-dir={variation_modules_dir(root / 'variation')}",
                "--logging-method=stderr",
                "--log-level=error",
            ]
            args += [f"--agent-udpv4-endpoint={d.address}:{self.snmp_port}" for d in members]
        return PeerConfig(
            snmpsim_args=args,
            ssh_hosts=ssh_hosts,
            ssh_username=self.ssh_username,
            ssh_password=self.ssh_password,
            nos_plugins=[nos.linux_nos()] if any(h.nos != "cisco_ios" for h in ssh_hosts) else [],
        )

    def _ssh_host(self, device: SimDevice, uptime_s: int) -> SshHost:
        if device.kind == "router":
            commands = nos.ios_commands(
                device.name, device.model, device.firmware, uptime_s, device.serial
            )
            return SshHost(device.name, device.address, self.ssh_port, "cisco_ios", commands)
        uptime = nos.linux_uptime(uptime_s)
        commands = nos.linux_commands(device.name, uptime)
        return SshHost(device.name, device.address, self.ssh_port, nos.LINUX_NOS_NAME, commands)

    async def _wait_ready(self, agents: list[list[int]], deadline: float) -> None:
        """Poll until every device answers. ``agents`` lists the devices of each snmpsim
        process: only the first is polled until that process answers at all, as polls sent
        while snmpsim still indexes its data just queue up and time out."""
        probe = get_probe("snmp")
        semaphore = asyncio.Semaphore(READY_CONCURRENCY)
        pending_snmp = [list(members) for members in agents]
        pending_ssh = {d.device_id for d in self.devices.values() if d.ssh}

        answered = [False] * len(agents)  # whether each agent has answered once

        async def snmp_ready(agent: int, device_id: int) -> None:
            async with semaphore:
                reading = await run_probe(probe, self.snmp_target(device_id), READY_PROBE_TIMEOUT)
            if reading.ok:
                answered[agent] = True
                pending_snmp[agent].remove(device_id)

        async def ssh_ready(device_id: int) -> None:
            if await _ssh_banner(self.devices[device_id].address, self.ssh_port):
                pending_ssh.discard(device_id)

        while any(pending_snmp) or pending_ssh:
            for process in self._processes.values():
                code = process.returncode()
                if code is not None:
                    raise SimulatorError(
                        f"simulator process {process.name!r} exited with {code}: "
                        f"{process.log_tail()}"
                    )
            if time.monotonic() > deadline:
                snmp = {i for members in pending_snmp for i in members}
                raise SimulatorError(_not_ready(self.devices, snmp, pending_ssh))
            async with asyncio.TaskGroup() as tg:
                for agent, members in enumerate(pending_snmp):
                    for device_id in members[:] if answered[agent] else members[:1]:
                        tg.create_task(snmp_ready(agent, device_id))
                for device_id in list(pending_ssh):
                    tg.create_task(ssh_ready(device_id))
            if any(pending_snmp) or pending_ssh:
                await asyncio.sleep(0.2)


async def _ssh_banner(address: str, port: int) -> bool:
    """Whether an SSH server answers at ``address:port`` with its version banner."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(READY_PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(address, port)
            return (await reader.readline()).startswith(b"SSH-")
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _not_ready(devices: dict[int, SimDevice], snmp: set[int], ssh: set[int]) -> str:
    def names(ids: set[int]) -> str:
        shown = [f"{i} ({devices[i].address})" for i in sorted(ids)[:10]]
        more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        return ", ".join(shown) + more

    parts = [f"no SNMP answer from {names(snmp)}"] if snmp else []
    parts += [f"no SSH banner from {names(ssh)}"] if ssh else []
    return "simulated devices did not start in time: " + "; ".join(parts)


def _first_middle_last(ids: list[int]) -> list[int]:
    return ids if len(ids) <= 3 else [ids[0], ids[len(ids) // 2], ids[-1]]
