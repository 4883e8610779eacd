"""Malformed replies from real local peers: every probe ends with a result status, whatever
the driver raises (a Rust extension's ``PanicException`` derives from ``BaseException``), and
the scheduler keeps running its rounds afterwards.

The SNMP peer is a mangling proxy in front of the snmpsim agent: it forwards each request,
then answers with a seeded mutation of the agent's real reply (truncated, bits flipped, bytes
cut or inserted, a length byte changed), so v2c and v3 replies are wrong in every layer (BER,
USM, scoped PDU). The HTTP and SSH peers answer with broken protocol on a TCP socket.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from probe_peers import SnmpAgent
from sqlmodel import col

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes.base import Probe, get_probe, run_probe
from fleet.probes.models import ProbeResult
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import (
    HttpOptions,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    SnmpV2c,
    SnmpV3,
    SshCredentials,
    SshOptions,
)
from fleet.settings import Settings

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.*"),
]

SEED = 20261207
IN_FLIGHT = 64
MANGLERS = 32


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded mutation of a real reply."""
    if not data:
        return data
    out = bytearray(data)
    how = rng.randrange(6)
    if how == 0:  # truncated
        return bytes(out[: rng.randrange(len(out))])
    if how == 1:  # bits flipped
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif how == 2:  # bytes cut from the middle
        at = rng.randrange(len(out))
        del out[at : at + rng.randint(1, 16)]
    elif how == 3:  # bytes inserted
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif how == 4:  # a length (or any) byte set to an extreme
        out[rng.randrange(min(len(out), 48))] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF))
    else:  # the tail replaced by noise
        at = rng.randrange(len(out))
        out[at:] = bytes(rng.randrange(256) for _ in range(len(out) - at))
    return bytes(out)


class _Mangler(asyncio.DatagramProtocol):
    """Forwards each request to the agent and answers with a mutation of the agent's reply."""

    def __init__(self, agent: tuple[str, int], rng: random.Random) -> None:
        self.agent, self.rng = agent, rng
        self.replies = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.get_running_loop().create_task(self._relay(data, addr))

    async def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, answer: bytes, _: tuple[str, int]) -> None:
                if not reply.done():
                    reply.set_result(answer)

        upstream, _ = await loop.create_datagram_endpoint(Upstream, remote_addr=self.agent)
        try:
            upstream.sendto(data)
            answer = await asyncio.wait_for(reply, 2)
        except TimeoutError:
            return
        finally:
            upstream.close()
        if self.transport.is_closing():  # the test is over: its poll gave up long ago
            return
        self.replies += 1
        self.transport.sendto(mutate(answer, self.rng), client)


@pytest.fixture
async def manglers(snmp_agent: SnmpAgent) -> AsyncIterator[list[int]]:
    """Ports of :data:`MANGLERS` proxies (a v2c agent's polls take turns on one socket: several
    agents let polls run side by side)."""
    loop = asyncio.get_running_loop()
    rng = random.Random(SEED)
    transports = [
        (
            await loop.create_datagram_endpoint(
                lambda: _Mangler((snmp_agent.host, snmp_agent.port), rng),
                local_addr=("127.0.0.1", 0),
            )
        )[0]
        for _ in range(MANGLERS)
    ]
    try:
        yield [t.get_extra_info("sockname")[1] for t in transports]
    finally:
        for transport in transports:
            transport.close()


async def _no_escapes(
    probe: Probe,
    targets: list[ProbeTarget],
    timeout: float,  # noqa: ASYNC109 - run_probe's own
) -> tuple[list[BaseException], dict[ProbeStatus, int]]:
    """Runs every target (``IN_FLIGHT`` at a time); what escaped ``run_probe``, and the statuses
    of the readings."""
    escaped: list[BaseException] = []
    statuses: dict[ProbeStatus, int] = {}
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(target: ProbeTarget) -> None:
        async with limit:
            try:
                reading = await run_probe(probe, target, timeout=timeout)
            except BaseException as exc:  # what the test counts
                escaped.append(exc)
                return
            assert isinstance(reading, Reading)
            statuses[reading.status] = statuses.get(reading.status, 0) + 1

    await asyncio.gather(*(one(t) for t in targets))
    return escaped, statuses


def _snmp_targets(ports: list[int], credentials: SnmpV2c | SnmpV3, n: int) -> list[ProbeTarget]:
    return [
        ProbeTarget(
            i, "127.0.0.1", ports[i % len(ports)], snmp=SnmpOptions(credentials=credentials)
        )
        for i in range(1, n + 1)
    ]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("version", ["v2c", "v3"])
async def test_mangled_snmp_replies_end_as_statuses(
    version: str, snmp_agent: SnmpAgent, manglers: list[int]
) -> None:
    credentials: SnmpV2c | SnmpV3 = SnmpV2c(snmp_agent.community)
    if version == "v3":
        auth, auth_key, _, priv_key = snmp_agent.users["fleet-sha256"]
        credentials = SnmpV3("fleet-sha256", auth, auth_key, "AES", priv_key)
    targets = _snmp_targets(manglers, credentials, 1500)
    escaped, statuses = await _no_escapes(get_probe("snmp", "gufo"), targets, timeout=0.3)
    assert escaped == [], f"{len(escaped)} escaped, e.g. {escaped[0]!r}"
    assert sum(statuses.values()) == len(targets)
    assert statuses.get(ProbeStatus.PARSE_ERROR, 0) > 0, statuses  # the mangling did reach them


# --- HTTP and SSH: broken protocol on a TCP socket -------------------------------------------


def _http_answer(rng: random.Random) -> bytes:
    """A seeded broken HTTP answer."""
    body = b'{"status": "ok"}'
    good = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"
    how = rng.randrange(8)
    if how == 0:  # garbage status line
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))) + b"\r\n\r\n"
    if how == 1:  # a header far over any sane size
        return b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n" + body
    if how == 2:  # bad chunking
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + body
    if how == 3:  # closed half-way through the headers
        return good[: rng.randrange(len(good))]
    if how == 4:  # a body shorter than its length
        return good + body[: rng.randrange(len(body))]
    if how == 5:  # JSON that is not
        return good.replace(b"16", b"5") + b"{\x00\xff]"
    if how == 6:  # a status code out of range
        return b"HTTP/1.1 999 Nope\r\nContent-Length: 0\r\n\r\n"
    return mutate(good + body, rng)


async def _serve(answer: Callable[[], bytes]) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(4096), 2)
            writer.write(answer())
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.timeout(120)
async def test_broken_http_answers_end_as_statuses() -> None:
    rng = random.Random(SEED)
    server, port = await _serve(lambda: _http_answer(rng))
    try:
        targets = [
            ProbeTarget(i, "127.0.0.1", port, http=HttpOptions(path="/health", scheme="http"))
            for i in range(1, 1001)
        ]
        escaped, statuses = await _no_escapes(get_probe("http"), targets, timeout=1.0)
    finally:
        server.close()
    assert escaped == [], f"{len(escaped)} escaped, e.g. {escaped[0]!r}"
    assert sum(statuses.values()) == len(targets)
    assert statuses.get(ProbeStatus.OK, 0) < len(targets), statuses


def _ssh_answer(rng: random.Random) -> bytes:
    """A seeded broken SSH server: a garbage banner, or a banner then garbage mid-key-exchange."""
    how = rng.randrange(4)
    if how == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    if how == 1:
        return b"SSH-2.0-OpenSSH_9.2\r\n"  # then the connection closes during key exchange
    if how == 2:
        return b"SSH-2.0-OpenSSH_9.2\r\n" + bytes(rng.randrange(256) for _ in range(64))
    return b"SSH-1.5-ancient\r\n"


@pytest.mark.timeout(120)
async def test_broken_ssh_servers_end_as_statuses() -> None:
    rng = random.Random(SEED)
    server, port = await _serve(lambda: _ssh_answer(rng))
    login = SshCredentials("fleet", password="x")
    try:
        targets = [
            ProbeTarget(i, "127.0.0.1", port, ssh=SshOptions("linux", login)) for i in range(1, 41)
        ]
        escaped, statuses = await _no_escapes(get_probe("ssh"), targets, timeout=3.0)
    finally:
        server.close()
    assert escaped == [], f"{len(escaped)} escaped, e.g. {escaped[0]!r}"
    assert sum(statuses.values()) == len(targets)
    assert ProbeStatus.OK not in statuses, statuses
    assert ProbeStatus.ERROR in statuses or ProbeStatus.PARSE_ERROR in statuses, statuses


# --- the scheduler afterwards ----------------------------------------------------------------


def _spec(device_id: int, port: int, credentials: SnmpV2c | SnmpV3) -> DeviceProbes:
    return DeviceProbes(
        device_id=device_id,
        site_id=1,
        serial=f"SN-{device_id}",
        kinds=("snmp",),
        interval_s=1,
        target=ProbeTarget(device_id, "127.0.0.1", port, snmp=SnmpOptions(credentials=credentials)),
    )


@pytest.mark.timeout(120)
async def test_the_scheduler_keeps_running_on_mangled_replies(
    snmp_agent: SnmpAgent, manglers: list[int], tmp_path: Path, sqlite_template: Path
) -> None:
    """Driven v2c rounds and v3 task rounds against the mangling proxies for a few seconds:
    every round ends with a stored result, and the scheduler still runs rounds afterwards."""
    shutil.copy(sqlite_template, tmp_path / "fleet.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
        probe_snmp_driver="gufo",
        probe_timeout_s=0.3,
        probe_retries=0,
        probe_jitter_s=0,
    )
    auth, auth_key, _, priv_key = snmp_agent.users["fleet-sha256"]
    v3 = SnmpV3("fleet-sha256", auth, auth_key, "AES", priv_key)  # type: ignore[arg-type]
    db = Database(settings.database_url)
    scheduler = ProbeScheduler(db, settings, Cipher(None))
    try:
        for device_id, port in enumerate(manglers, start=1):
            credentials = SnmpV2c(snmp_agent.community) if device_id % 2 else v3
            scheduler.specs[device_id] = _spec(device_id, port, credentials)
            scheduler.plan(device_id, 0.0)
        counts = []
        for _ in range(3):  # a few seconds of rounds, then a look at what was stored
            for _ in range(20):
                await scheduler.dispatch_due()
                await asyncio.sleep(0.1)
            await asyncio.wait_for(scheduler.idle(), 5)
            await scheduler.engine.flush()
            async with db.session() as session:
                stored = sa.select(sa.func.count()).select_from(ProbeResult)
                counts.append(int(await session.scalar(stored) or 0))
        assert counts[0] > 0, counts
        assert counts[0] < counts[1] < counts[2], counts  # still running rounds
        async with db.session() as session:
            statuses = set((await session.scalars(sa.select(col(ProbeResult.status)))).all())
        assert "parse_error" in statuses, statuses
    finally:
        await db.dispose()
