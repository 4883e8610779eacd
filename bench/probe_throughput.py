"""SNMP poll throughput and CPU cost: fleet's scheduler and fleet's runner with each SNMP driver
against the net-snmp command-line tools and a bare asyncio UDP floor, all on real snmpd agents.

    .venv/bin/python bench/probe_throughput.py [--devices 2000] [--agents 4] [--inflight 200]

Each simulated device has its own address:port and community, served by one of a few Debian
snmpd processes (each on its own 127.0.0.x, listening on several ports). One poll = GET
sysUpTime.0 + sysDescr.0, then one GETBULK of ifOperStatus sized to return every interface
and the end of the column: exactly two request packets. The agents' own snmpInPkts counters
give the request packets per poll for every variant (the floor also counts its own sends).

Variants (same run, same agents):

a. sched-gufo, sched-pysnmp: fleet's real path, ``ProbeScheduler`` with
   ``FLEET_PROBE_SNMP_DRIVER`` set to the driver, on a temporary SQLite database holding the
   devices (50 sites with a link each, one v2c credential profile per community): the
   dispatch of due rounds, the global and per-site limits, the status engine observing
   every round and the results flushed to the database. The measured window opens and closes
   with the scheduler paused and no poll in flight, so packets and polls are counted over
   the same polls.
b. pysnmp, gufo: the driver only, fleet's ``run_probe`` called directly by N workers
c. net-snmp CLI, LibreNMS-style: ``snmpget`` then ``snmpbulkwalk`` per device, 16 in parallel
   (CPU of the child processes counted)
d. floor: one asyncio UDP socket firing pre-encoded requests, matching replies by request id,
   whole rounds for ``--floor-seconds`` (as long as the scheduler's window unless given). A
   full run measures it in two halves, just before and just after fleet's default path, so
   that the target's two sides see the same machine (on a shared 2-core machine the cost of a
   poll moves by a third between minutes).

CPU is this process's ``time.process_time()`` (plus children's for c); snmpd's CPU is not
counted. The targets are checked for fleet's default path, ``sched-<default driver>``. Only
127.0.0.0/8 is used, every agent is stopped in ``finally``, and every variant has a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet import migrate
from fleet.database import Database
from fleet.inventory.credentials import Cipher, new_key
from fleet.inventory.models import Country, CredentialProfile, DeviceModel, Link, Site
from fleet.inventory.models import Device as InventoryDevice
from fleet.logging import configure
from fleet.probes.base import get_probe, run_probe
from fleet.probes.gc_tuning import tune_for_polling
from fleet.probes.models import ProbeResult
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.snmp import (
    DEFAULT_SNMP_DRIVER,
    IF_OPER_STATUS,
    SYS_DESCR,
    SYS_UPTIME,
    SnmpDriver,
)
from fleet.probes.types import ProbeStatus, ProbeTarget, SnmpOptions, SnmpV2c
from fleet.settings import Settings

SNMP_IN_PKTS = "1.3.6.1.2.1.11.1.0"
ADMIN_COMMUNITY = "bench-admin"
APT_HINT = "apt-get update && apt-get install -y snmpd snmp"


@dataclass(frozen=True, slots=True)
class Device:
    index: int
    address: str
    port: int
    community: str


@dataclass(slots=True)
class Result:
    name: str
    polls: int = 0
    errors: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    packets: int | None = None
    own_packets: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    warmup: float | None = None
    note: str = ""

    @property
    def polls_per_s(self) -> float:
        return self.polls / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_poll(self) -> float:
        return 1000 * self.cpu / self.polls if self.polls else float("nan")

    @property
    def packets_per_poll(self) -> float | None:
        return self.packets / self.polls if self.packets is not None and self.polls else None


# --- agents -----------------------------------------------------------------------------------


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


class Agents:
    """A few snmpd processes; devices are spread over their addresses, ports and communities."""

    def __init__(self, devices: int, agents: int, ports_per_agent: int, workdir: Path) -> None:
        self.workdir = workdir
        self.addresses = [f"127.0.0.{11 + a}" for a in range(agents)]
        self.ports = {
            a: [_free_udp_port(a) for _ in range(ports_per_agent)] for a in self.addresses
        }
        self.admin = [(a, self.ports[a][0]) for a in self.addresses]
        self.devices: list[Device] = []
        for i in range(devices):
            address = self.addresses[i % agents]
            port = self.ports[address][(i // agents) % ports_per_agent]
            self.devices.append(Device(i, address, port, f"dev-{i:05d}"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist")}
        for n, address in enumerate(self.addresses):
            endpoints = ",".join(f"udp:{address}:{p}" for p in self.ports[address])
            lines = [
                f"agentaddress {endpoints}",
                "sysdescr fleet bench agent, Version 1.0",
                f"rocommunity {ADMIN_COMMUNITY} 127.0.0.0/8",
            ]
            lines += [
                f"rocommunity {d.community} 127.0.0.0/8"
                for d in self.devices
                if d.address == address
            ]
            conf = self.workdir / f"snmpd-{n}.conf"
            conf.write_text("\n".join(lines) + "\n")
            cmd = [
                "snmpd",
                "-f",
                "-C",
                "-c",
                str(conf),
                "-Lf",
                str(self.workdir / f"snmpd-{n}.log"),
            ]
            cmd += ["-p", str(self.workdir / f"snmpd-{n}.pid")]
            self.procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        deadline = time.monotonic() + 20
        for address, port in self.admin:
            while self._get(address, port, SNMP_IN_PKTS) is None:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    raise RuntimeError(f"snmpd on {address}:{port} did not start")
                time.sleep(0.1)

    @staticmethod
    def _get(address: str, port: int, oid: str) -> int | None:
        from gufo.snmp.sync.client import SnmpSession

        try:
            value = SnmpSession(address, port, community=ADMIN_COMMUNITY, timeout=0.5).get(oid)
        except Exception:
            return None
        return int(value) if isinstance(value, int) else None

    def in_pkts(self) -> int:
        """Packets the agents received (the reading query itself included)."""
        total = 0
        for address, port in self.admin:
            value = self._get(address, port, SNMP_IN_PKTS)
            if value is None:
                raise RuntimeError(f"agent {address}:{port} stopped answering")
            total += value
        return total

    def interfaces(self) -> int:
        from gufo.snmp.sync.client import SnmpSession

        address, port = self.admin[0]
        session = SnmpSession(address, port, community=ADMIN_COMMUNITY, timeout=1)
        return sum(1 for _ in session.fetch(IF_OPER_STATUS))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextlib.contextmanager
def measured(result: Result, agents: Agents, children: bool = False) -> Iterator[None]:
    pkts0 = agents.in_pkts()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        result.wall = time.perf_counter() - t0
        result.cpu = time.process_time() - cpu0
        if children:
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            result.cpu += (kids.ru_utime - kids0.ru_utime) + (kids.ru_stime - kids0.ru_stime)
        # each agent also received the second in_pkts() query
        result.packets = agents.in_pkts() - pkts0 - len(agents.admin)


# --- a: fleet's scheduler with a driver --------------------------------------------------------

SCHED_SITES = 50


async def _drain(sched: ProbeScheduler) -> None:
    """Pause the scheduler and wait for every round in flight to finish (``resume()`` goes
    on)."""
    sched.pause()
    await sched.idle()


async def _count(db: Database, after: int, interfaces: int, result: Result) -> int:
    """Count the polls whose results were stored with an id above ``after`` (read after the
    window, so that the counting costs the window nothing): a poll is an error unless it is
    ``ok`` with every interface. Returns the largest id seen."""
    last = after
    async with db.session() as session:
        rows = await session.execute(
            sa.select(col(ProbeResult.id), col(ProbeResult.status), col(ProbeResult.data)).where(
                col(ProbeResult.id) > after
            )
        )
        for row_id, status, data in rows:
            last = max(last, row_id)
            result.polls += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            data = data or {}
            result.retries += int(data.get("values", {}).get("attempts", 1)) - 1
            if status != ProbeStatus.OK or len(data.get("interfaces", [])) != interfaces:
                result.errors += 1
    return last


async def _sched_database(url: str, devices: list[Device], cipher: Cipher) -> None:
    """A migrated database with the bench's devices, as the inventory would hold them: 50
    sites, each reached through its first device (its link's terminating device and the
    parent of the others), one v2c credential profile per community."""
    await migrate.upgrade(url)
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            country = Country(code="ZZ", name="Bench", region="Bench")
            session.add(country)
            await session.flush()
            assert country.id is not None
            sites = [
                Site(
                    code=f"ZZ-BENCH-{n:02d}",
                    name=f"Bench site {n}",
                    kind="border_crossing_land",
                    country_id=country.id,
                    latitude=0.0,
                    longitude=0.0,
                )
                for n in range(SCHED_SITES)
            ]
            model = DeviceModel(
                slug="bench-snmpd", manufacturer="net-snmp", model="snmpd", kind="switch"
            )
            by_community = {
                d.community: CredentialProfile(
                    name=f"bench-{d.community}",
                    kind="snmp_v2c",
                    secret=cipher.encrypt({"community": d.community}),
                )
                for d in devices
            }
            session.add_all([*sites, model, *by_community.values()])
            await session.flush()
            assert model.id is not None
            rows: list[InventoryDevice] = []
            for d in devices:
                site = sites[d.index % SCHED_SITES]
                profile = by_community[d.community]
                assert site.id is not None
                assert profile.id is not None
                rows.append(
                    InventoryDevice(
                        site_id=site.id,
                        model_id=model.id,
                        serial=f"BENCH-{d.index:05d}",
                        management_address=d.address,
                        probe_port=d.port,
                        lifecycle="active",
                        probes=["snmp"],
                        snmp_profile_id=profile.id,
                    )
                )
            session.add_all(rows)
            await session.flush()
            for n, site in enumerate(sites):
                members = rows[n::SCHED_SITES]
                if not members:
                    continue
                way_in = members[0]
                for row in members[1:]:
                    row.parent_id = way_in.id
                assert site.id is not None
                session.add(
                    Link(
                        site_id=site.id,
                        circuit_id=f"BENCH-LINK-{n:02d}",
                        medium="fibre",
                        provider="bench",
                        bandwidth_kbps=100_000,
                        terminating_device_id=way_in.id,
                    )
                )
            await session.commit()
    finally:
        await db.dispose()


async def _sched(
    driver: SnmpDriver,
    devices: list[Device],
    max_rep: int,
    args: argparse.Namespace,
    agents: Agents,
    result: Result,
    interval: float,
) -> None:
    key = new_key()
    url = f"sqlite+aiosqlite:///{agents.workdir / f'sched-{driver}.db'}"
    cipher = Cipher(key)
    await _sched_database(url, devices, cipher)
    settings = Settings(
        database_url=url,
        credential_keys=SecretStr(key),
        probe_snmp_driver=driver,
        probe_interval_s=interval,
        probe_jitter_s=min(1.0, interval / 10),
        probe_retries=1,
        probe_timeout_s=args.timeout,
        probe_concurrency=args.inflight,
        log_format="console",
        log_level="WARNING",
    )
    db = Database(url)
    sched = ProbeScheduler(db, settings, cipher)
    try:
        t0 = time.perf_counter()
        await sched.start()
        tune_for_polling()  # as fleet's entry points that run the scheduler do
        # warm-up: every device polled once (the engine has no event to wait for)
        while len(sched.engine.health) < len(devices):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        result.warmup = time.perf_counter() - t0
        await asyncio.sleep(min(interval, 5.0))  # and its results written, states settled
        await _drain(sched)
        await sched.engine.flush()
        mark = await _count(db, 0, 0, Result("warm-up"))
        late_mark, missed = len(sched.lateness()), sched.missed
        with measured(result, agents):
            sched.resume()
            await asyncio.sleep(args.sched_seconds)
            await _drain(sched)
            await sched.engine.flush()  # every result of the window is written in the window
        await _count(db, mark, max_rep - 1, result)
        late = sched.lateness()
        late = sorted(late[late_mark:] if len(late) >= late_mark else late)
        notes = [f"interval {interval:.2f} s ({len(devices) / interval:.0f} polls/s asked)"]
        if late:
            notes.append(f"lateness p50 {statistics.median(late):.3f} s, max {late[-1]:.3f} s")
        if sched.missed > missed:
            notes.append(f"{sched.missed - missed} rounds skipped (the previous still running)")
        result.note = "; ".join(notes)
    finally:
        if sched.scheduler.running:  # paused counts as running
            await sched.stop()
        await db.dispose()


# --- b: fleet's runner with a driver (the driver only) ----------------------------------------


async def _fleet(
    driver: str,
    devices: list[Device],
    max_rep: int,
    args: argparse.Namespace,
    agents: Agents,
    result: Result,
) -> None:
    probe = get_probe("snmp", driver)
    targets = [
        ProbeTarget(
            d.index,
            d.address,
            d.port,
            snmp=SnmpOptions(SnmpV2c(d.community), max_repetitions=max_rep),
        )
        for d in devices
    ]

    async def round_(collect: bool) -> None:
        it = iter(targets)

        async def worker() -> None:
            for target in it:
                reading = await run_probe(probe, target, timeout=args.timeout, retries=1)
                if collect:
                    result.polls += 1
                    result.retries += int(reading.values.get("attempts", 1)) - 1
                    result.statuses[reading.status] = result.statuses.get(reading.status, 0) + 1
                    if reading.status is not ProbeStatus.OK or len(reading.interfaces) != (
                        max_rep - 1
                    ):
                        result.errors += 1

        await asyncio.gather(*(worker() for _ in range(args.inflight)))

    t0 = time.perf_counter()
    await round_(collect=False)  # warm-up: engine start, per-device caches
    result.warmup = time.perf_counter() - t0
    with measured(result, agents):
        for _ in range(args.rounds):
            await round_(collect=True)


# --- c: net-snmp command-line tools ------------------------------------------------------------


async def _cli(
    devices: list[Device], max_rep: int, args: argparse.Namespace, agents: Agents, result: Result
) -> None:
    it = iter(devices)
    common = ["-v2c", "-r1", f"-t{args.timeout:g}", "-OQn"]

    async def run(*cmd: str) -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out

    async def worker() -> None:
        for d in it:
            peer = f"udp:{d.address}:{d.port}"
            rc1, out1 = await run(
                "snmpget", *common, "-c", d.community, peer, SYS_UPTIME, SYS_DESCR
            )
            rc2, out2 = await run(
                "snmpbulkwalk", *common, f"-Cr{max_rep}", "-c", d.community, peer, IF_OPER_STATUS
            )
            result.polls += 1
            if rc1 or rc2 or out2.count(b"\n") != max_rep - 1 or out1.count(b"\n") != 2:
                result.errors += 1

    with measured(result, agents, children=True):
        await asyncio.gather(*(worker() for _ in range(args.cli_parallel)))


# --- d: bare asyncio UDP floor -----------------------------------------------------------------


def encode_requests(devices: list[Device], max_rep: int) -> list[tuple[bytes, bytes]]:
    """Two BER-encoded v2c requests per device (request ids 2i and 2i+1), encoded once."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

    def message(pdu: object, community: str) -> bytes:
        msg = v2c.Message()
        v2c.apiMessage.set_defaults(msg)
        v2c.apiMessage.set_community(msg, community)
        v2c.apiMessage.set_pdu(msg, pdu)
        return bytes(encoder.encode(msg))

    packets = []
    for d in devices:
        get = v2c.GetRequestPDU()
        v2c.apiPDU.set_defaults(get)
        v2c.apiPDU.set_request_id(get, 2 * d.index + 1)
        v2c.apiPDU.set_varbinds(get, [(SYS_UPTIME, v2c.Null("")), (SYS_DESCR, v2c.Null(""))])
        bulk = v2c.GetBulkRequestPDU()
        v2c.apiBulkPDU.set_defaults(bulk)
        v2c.apiBulkPDU.set_request_id(bulk, 2 * d.index + 2)
        v2c.apiBulkPDU.set_non_repeaters(bulk, 0)
        v2c.apiBulkPDU.set_max_repetitions(bulk, max_rep)
        v2c.apiBulkPDU.set_varbinds(bulk, [(IF_OPER_STATUS, v2c.Null(""))])
        packets.append((message(get, d.community), message(bulk, d.community)))
    return packets


def _tlv(buf: bytes, i: int) -> tuple[int, int]:
    """Offset of a TLV's value and its length."""
    length = buf[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[i : i + n], "big")
        i += n
    return i, length


def request_id(reply: bytes) -> int | None:
    """The request id of a v2c response, read from the raw bytes (no full decode)."""
    try:
        i, _ = _tlv(reply, 0)  # Message SEQUENCE
        i, n = _tlv(reply, i)  # version
        i, n = _tlv(reply, i + n)  # community
        i, n = _tlv(reply, i + n)  # PDU
        i, n = _tlv(reply, i)  # request-id INTEGER
        return int.from_bytes(reply[i : i + n], "big", signed=True)
    except IndexError:
        return None


class _Floor(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        fut = self.waiting.pop(request_id(data) or -1, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def request(self, rid: int, packet: bytes, addr: tuple[str, int], wait: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.waiting[rid] = fut
        self.transport.sendto(packet, addr)
        self.sent += 1
        timer = loop.call_later(wait, lambda: fut.done() or fut.set_exception(TimeoutError()))
        try:
            await fut
            return True
        except TimeoutError:
            self.waiting.pop(rid, None)
            return False
        finally:
            timer.cancel()


async def _floor(
    devices: list[Device],
    max_rep: int,
    args: argparse.Namespace,
    agents: Agents,
    result: Result,
    seconds: float,
) -> None:
    packets = encode_requests(devices, max_rep)  # before the clock starts
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    # one socket takes every reply: give it room for a burst of `inflight` replies
    # (SO_RCVBUFFORCE needs root; otherwise the kernel caps SO_RCVBUF at net.core.rmem_max)
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    transport, floor = await loop.create_datagram_endpoint(_Floor, sock=sock)
    try:
        with measured(result, agents):
            end = time.perf_counter() + seconds
            while True:

                async def worker(it: Iterator[Device]) -> None:
                    for d in it:
                        get, bulk = packets[d.index]
                        addr = (d.address, d.port)
                        ok = await floor.request(2 * d.index + 1, get, addr, args.timeout)
                        ok = ok and await floor.request(2 * d.index + 2, bulk, addr, args.timeout)
                        result.polls += 1
                        result.errors += 0 if ok else 1

                shared = iter(devices)
                await asyncio.gather(*(worker(shared) for _ in range(args.inflight)))
                if time.perf_counter() >= end:
                    break
        result.own_packets = floor.sent
    finally:
        transport.close()


# --- main --------------------------------------------------------------------------------------


def run_variant(name: str, coro_factory: Callable[[Result], object], limit: float) -> Result:
    result = Result(name)

    async def main() -> None:
        await asyncio.wait_for(coro_factory(result), timeout=limit)  # type: ignore[arg-type]

    try:
        asyncio.run(main())
    except TimeoutError:
        result.note = f"stopped after {limit:g} s"
    return result


DRIVERS: tuple[SnmpDriver, ...] = typing.get_args(SnmpDriver)
VARIANTS = (
    *(f"sched-{d}" for d in DRIVERS),
    *DRIVERS,
    "cli",
    "floor",
)
#: The order of a full run: each driver alone before its scheduler (its polls/s sets the
#: scheduler's interval); the other drivers and the CLI first, then fleet's default path between
#: the two halves of the floor.
DEFAULT_ORDER = ",".join(
    [
        *(v for d in DRIVERS if d != DEFAULT_SNMP_DRIVER for v in (d, f"sched-{d}")),
        "cli",
        DEFAULT_SNMP_DRIVER,
        "floor",
        f"sched-{DEFAULT_SNMP_DRIVER}",
        "floor",
    ]
)


def merge(into: Result, more: Result) -> None:
    """Add a later run of the same variant (the floor's second half) to the first."""
    into.polls += more.polls
    into.errors += more.errors
    into.wall += more.wall
    into.cpu += more.cpu
    for name in ("packets", "own_packets"):
        a, b = getattr(into, name), getattr(more, name)
        setattr(into, name, None if a is None or b is None else a + b)
    into.note = "; ".join(n for n in (into.note, more.note) if n)


def report(results: list[Result]) -> int:
    print()
    print(
        f"{'variant':<40}{'polls':>7}{'errors':>8}{'wall s':>8}{'polls/s':>10}"
        f"{'CPU s':>8}{'CPU ms/poll':>13}{'req pkts/poll':>21}"
    )
    for r in results:
        ppp = f"{r.packets_per_poll:.2f}" if r.packets_per_poll is not None else "-"
        if r.own_packets is not None and r.polls:
            ppp += f" ({r.own_packets / r.polls:.2f} sent)"
        notes = [r.note] if r.note else []
        if r.retries:
            notes.append(f"{r.retries} polls retried")
        if r.warmup is not None:
            notes.append(f"first round (caches cold): {r.warmup:.1f} s")
        print(
            f"{r.name:<40}{r.polls:>7}{r.errors:>8}{r.wall:>8.2f}{r.polls_per_s:>10.0f}"
            f"{r.cpu:>8.2f}{r.cpu_ms_per_poll:>13.3f}{ppp:>21}  {'; '.join(notes)}"
        )
    by = {r.name.split(":")[0]: r for r in results}
    # fleet's default path is its scheduler with the default driver; without that row, the
    # default driver alone stands in (and says so)
    default = next(
        (k for k in (f"sched-{DEFAULT_SNMP_DRIVER}", DEFAULT_SNMP_DRIVER) if k in by), None
    )
    default_r = by.get(default) if default is not None else None
    print()
    for r in results:
        if default_r is None or r is default_r or not r.polls:
            continue
        print(
            f"{r.name}: {r.cpu_ms_per_poll / default_r.cpu_ms_per_poll:6.2f}x the CPU per poll"
            f" of {default}; {default}: {default_r.polls_per_s / r.polls_per_s:6.2f}x its polls/s"
        )
    status = 0
    if default_r is not None:
        cli, floor = by.get("cli"), by.get("floor")
        checks = [("errors == 0", default_r.errors == 0 and default_r.polls > 0)]
        if cli is not None and cli.polls:
            ratio = cli.cpu_ms_per_poll / default_r.cpu_ms_per_poll
            checks.append((f"CPU/poll >= 10x better than net-snmp CLI ({ratio:.1f}x)", ratio >= 10))
        if floor is not None and floor.polls:
            ratio = default_r.cpu_ms_per_poll / floor.cpu_ms_per_poll
            checks.append((f"CPU/poll within 3x of the asyncio floor ({ratio:.2f}x)", ratio <= 3))
        if default_r.packets_per_poll is not None:
            checks.append(
                (
                    f"2 request packets per poll ({default_r.packets_per_poll:.2f})",
                    abs(default_r.packets_per_poll - 2) < 0.01,
                )
            )
        print()
        what = "scheduler" if default_r.name.startswith("sched-") else "driver only, no scheduler"
        print(f"fleet's default path, {default} ({what}), against the targets:")
        for text, ok in checks:
            print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
            status |= 0 if ok else 1
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=4, help="snmpd processes")
    parser.add_argument("--ports-per-agent", type=int, default=10)
    parser.add_argument("--inflight", type=int, default=200, help="polls in flight")
    parser.add_argument(
        "--rounds", type=int, default=2, help="measured rounds over all devices (b)"
    )
    parser.add_argument(
        "--floor-seconds",
        type=float,
        default=0.0,
        help="the floor (d) repeats whole rounds for this long in all, shared by its runs when "
        "--only names it more than once; 0: as long as the scheduler's window, so that the "
        "target's yardstick is measured over as much of the machine's noise as what it "
        "measures (a round takes a quarter of a second)",
    )
    parser.add_argument(
        "--sched-seconds", type=float, default=20.0, help="measured window of the scheduler (a)"
    )
    parser.add_argument(
        "--sched-interval",
        type=float,
        default=0.0,
        help="probe interval of the scheduler (a); 0: devices / the polls/s of the same "
        "driver alone when it ran before in this run (else devices / 1000), at least 1 s: "
        "the scheduler is asked for as many polls as the driver alone could make",
    )
    parser.add_argument(
        "--cli-devices", type=int, default=300, help="devices polled by the (slow) CLI variant"
    )
    parser.add_argument("--cli-parallel", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per variant at most")
    parser.add_argument(
        "--only",
        default=DEFAULT_ORDER,
        help=f"comma-separated variants, run in the order given; of {','.join(VARIANTS)} "
        "(a variant named twice is measured twice and added up)",
    )
    args = parser.parse_args()

    missing = [tool for tool in ("snmpd", "snmpget", "snmpbulkwalk") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: install them with\n    {APT_HINT}", file=sys.stderr)
        return 2
    only = [v.strip() for v in args.only.split(",") if v.strip()]
    unknown = [v for v in only if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(map(repr, unknown))}")
    # fleet's logging as the service sets it up (state changes at INFO are not shown); the
    # scheduler's skipped and missed runs are counted instead of printed
    configure("console", "WARNING")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        agents = Agents(args.devices, args.agents, args.ports_per_agent, Path(tmp))
        try:
            agents.start()
            max_rep = agents.interfaces() + 1  # every interface, then the end of the column
            print(
                f"{args.devices} devices on {args.agents} snmpd x {args.ports_per_agent} ports, "
                f"{max_rep - 1} interfaces each (GETBULK max-repetitions {max_rep}; the "
                f"scheduler uses fleet's default), {args.inflight} in flight, "
                f"{args.rounds} measured round(s) / {args.sched_seconds:g} s for the scheduler "
                f"and {args.floor_seconds or args.sched_seconds:g} s for the floor, "
                f"timeout {args.timeout:g} s, default driver: {DEFAULT_SNMP_DRIVER}"
            )
            results: list[Result] = []
            devices = agents.devices
            for variant in only:
                if variant.startswith("sched-"):
                    driver = next(d for d in DRIVERS if variant == f"sched-{d}")
                    alone = next(
                        (r for r in results if r.name.split(":")[0] == driver and r.polls), None
                    )
                    interval = args.sched_interval or max(
                        1.0, len(devices) / (alone.polls_per_s if alone is not None else 1000.0)
                    )
                    results.append(
                        run_variant(
                            f"{variant}: fleet scheduler + {driver}",
                            lambda r, d=driver, i=interval: _sched(
                                d, devices, max_rep, args, agents, r, i
                            ),
                            args.limit,
                        )
                    )
                elif variant in DRIVERS:
                    results.append(
                        run_variant(
                            f"{variant}: driver only, run_probe",
                            lambda r, v=variant: _fleet(v, devices, max_rep, args, agents, r),
                            args.limit,
                        )
                    )
                elif variant == "cli":
                    subset = devices[: args.cli_devices]
                    results.append(
                        run_variant(
                            f"cli: snmpget+snmpbulkwalk x{args.cli_parallel}",
                            lambda r, subset=subset: _cli(subset, max_rep, args, agents, r),
                            args.limit,
                        )
                    )
                else:
                    seconds = (args.floor_seconds or args.sched_seconds) / only.count("floor")
                    piece = run_variant(
                        "floor: asyncio UDP, pre-encoded",
                        lambda r, s=seconds: _floor(devices, max_rep, args, agents, r, s),
                        args.limit,
                    )
                    earlier = next((r for r in results if r.name == piece.name), None)
                    if earlier is None:
                        results.append(piece)
                    else:
                        merge(earlier, piece)
                        results.append(results.pop(results.index(earlier)))  # shown last
                r = results[-1]
                print(
                    f"  {r.name}: {r.polls} polls, {r.errors} errors, {r.polls_per_s:.0f}/s, "
                    f"{r.cpu_ms_per_poll:.3f} ms CPU/poll {r.note}",
                    flush=True,
                )
            return report(results)
        finally:
            agents.stop()


if __name__ == "__main__":
    sys.exit(main())
