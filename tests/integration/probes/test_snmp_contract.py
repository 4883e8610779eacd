"""One contract, two SNMP drivers: the same expectations against the same snmpsim agent.

Where the drivers differ, the test names the difference explicitly (``DIFFERENCES``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from probe_peers import UPTIME_INITIAL, SnmpAgent, free_port

from fleet.probes.base import Probe, get_probe, run_probe
from fleet.probes.snmp import DEFAULT_SNMP_DRIVER
from fleet.probes.types import (
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    SnmpV2c,
    SnmpV3,
)

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.anyio,
    # pysnmp 7.1 calls pysmi's deprecated camelCase names when it builds its MIB compiler
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.*"),
]

#: "gufo-start" is gufo-snmp's callback-driven v2c poll (``GufoProbe.start``, the scheduler's
#: path), held to the same contract through :class:`Started`.
DRIVERS = ["pysnmp", "gufo", "gufo-start"]

#: What each driver does with a datagram that is not SNMP, and with a v3 context name.
DIFFERENCES = {
    "pysnmp": {"garbage": ProbeStatus.TIMEOUT, "context": ProbeStatus.OK},
    "gufo": {"garbage": ProbeStatus.PARSE_ERROR, "context": ProbeStatus.ERROR},
    "gufo-start": {"garbage": ProbeStatus.PARSE_ERROR, "context": ProbeStatus.ERROR},
}


class Started:
    """``collect`` by ``GufoProbe.start``: the poll runs on the channel's callbacks and hands
    its reading to a future; where ``start`` declines (SNMPv3), ``collect`` itself runs."""

    kind = "snmp"
    bounded = True

    def __init__(self) -> None:
        from fleet.probes.snmp_gufo import GufoProbe

        inner = get_probe("snmp", "gufo")
        assert isinstance(inner, GufoProbe)
        self.inner = inner
        self.started = 0

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        done: asyncio.Future[Reading] = asyncio.get_running_loop().create_future()
        if self.inner.start(target, timeout, done.set_result):
            self.started += 1
            return await done
        return await self.inner.collect(target, timeout)


def probe_of(driver: str) -> Probe:
    return Started() if driver == "gufo-start" else get_probe("snmp", driver)


EXTRA = {"cpu_busy_5min": "1.3.6.1.4.1.9.2.1.56.0", "mem_used": "1.3.6.1.4.1.9.9.48.1.1.1.5.1"}


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def v3(
    agent: SnmpAgent,
    user: str,
    *,
    context: str = "",
    auth_key: str | None = None,
    priv_key: str | None = None,
) -> SnmpV3:
    auth, good_auth, priv, good_priv = agent.users[user]
    return SnmpV3(
        user=user,
        auth_protocol=auth,  # type: ignore[arg-type]
        auth_key=auth_key or good_auth,
        priv_protocol={"AES": "AES", "AES256BLMT": "AES256", "DES": "DES"}[priv],  # type: ignore[arg-type]
        priv_key=priv_key or good_priv,
        context=context,
    )


def target(agent: SnmpAgent, cred: SnmpV2c | SnmpV3, **kw: object) -> ProbeTarget:
    return ProbeTarget(
        device_id=7,
        address=agent.host,
        port=agent.port,
        snmp=SnmpOptions(credentials=cred, extra_oids=dict(EXTRA)),
        **kw,  # type: ignore[arg-type]
    )


async def test_v2c_ok(driver: str, snmp_agent: SnmpAgent) -> None:
    probe = probe_of(driver)
    reading = await run_probe(
        probe, target(snmp_agent, SnmpV2c(snmp_agent.community), interface_index=1), timeout=5
    )
    assert reading.status is ProbeStatus.OK, reading.reason
    if isinstance(probe, Started):
        assert probe.started == 1  # the callback path ran, not collect
    assert reading.kind == "snmp"
    assert reading.device_id == 7
    assert reading.uptime_seconds is not None
    assert reading.uptime_seconds >= UPTIME_INITIAL / 100
    assert reading.sys_descr is not None
    assert reading.sys_descr.startswith("Cisco IOS Software")
    assert reading.firmware_version == "15.0(2)SE11"
    assert [(i.index, i.oper_status) for i in reading.interfaces] == [
        (1, "up"),
        (2, "up"),
        (3, "down"),
    ]
    first = reading.interfaces[0]
    assert (first.in_octets, first.out_octets) == (9000000001, 9000000002)
    assert reading.values == {"cpu_busy_5min": 7, "mem_used": 123456}
    assert reading.duration_ms > 0
    assert reading.started_at.tzinfo is not None


async def test_v2c_falls_back_to_32bit_counters(driver: str, snmp_agent: SnmpAgent) -> None:
    reading = await run_probe(
        probe_of(driver),
        target(snmp_agent, SnmpV2c(snmp_agent.community), interface_index=3),
        timeout=5,
    )
    assert reading.status is ProbeStatus.OK, reading.reason
    third = reading.interfaces[2]
    assert (third.index, third.oper_status, third.in_octets, third.out_octets) == (
        3,
        "down",
        3333,
        4444,
    )


async def test_uptime_ticks(driver: str, snmp_agent: SnmpAgent) -> None:
    probe = probe_of(driver)
    t = target(snmp_agent, SnmpV2c(snmp_agent.community))
    first = await run_probe(probe, t, timeout=5)
    await asyncio.sleep(0.3)
    second = await run_probe(probe, t, timeout=5)
    assert first.uptime_seconds is not None
    assert second.uptime_seconds is not None
    assert second.uptime_seconds > first.uptime_seconds


@pytest.mark.parametrize("user", ["fleet-sha", "fleet-sha256", "fleet-sha512", "fleet-md5"])
async def test_v3_auth_priv_ok(driver: str, user: str, snmp_agent: SnmpAgent) -> None:
    reading = await run_probe(probe_of(driver), target(snmp_agent, v3(snmp_agent, user)), timeout=5)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.sys_descr is not None
    assert reading.sys_descr.endswith("(v3)")
    assert len(reading.interfaces) == 3
    assert reading.values["mem_used"] == 123456


async def test_v3_context_name(driver: str, snmp_agent: SnmpAgent) -> None:
    """pysnmp sends the context name; gufo-snmp 0.13 cannot, and says so without sending."""
    cred = v3(snmp_agent, "fleet-sha", context=snmp_agent.context)
    reading = await run_probe(probe_of(driver), target(snmp_agent, cred), timeout=5)
    assert reading.status is DIFFERENCES[driver]["context"], reading.reason
    if reading.status is ProbeStatus.OK:
        assert reading.sys_descr is not None
        assert reading.sys_descr.endswith("(context)")
    else:
        assert "context" in reading.reason
        assert "pysnmp" in reading.reason
        assert reading.values.get("attempts") is None  # a config error is not retried


async def test_wrong_community_times_out_quickly(driver: str, snmp_agent: SnmpAgent) -> None:
    t0 = time.perf_counter()
    reading = await run_probe(
        probe_of(driver), target(snmp_agent, SnmpV2c("not-the-community")), timeout=1
    )
    elapsed = time.perf_counter() - t0
    assert reading.status is ProbeStatus.TIMEOUT
    assert reading.reason == "no answer: wrong community or unreachable"
    assert "not-the-community" not in repr(reading)
    assert elapsed < 1.8


@pytest.mark.parametrize(
    ("user", "change"),
    [
        ("fleet-sha", "auth_key"),
        ("fleet-sha", "priv_key"),
        ("fleet-sha256", "auth_key"),
        ("nobody", "user"),
    ],
)
async def test_v3_wrong_credentials_auth_failed(
    driver: str, user: str, change: str, snmp_agent: SnmpAgent
) -> None:
    if change == "user":
        cred = SnmpV3("nobody", "SHA", "fleet-auth-key-1", "AES", "fleet-priv-key-1")
    else:
        cred = v3(snmp_agent, user, **{change: "wrong-key-12345"})  # type: ignore[arg-type]
    reading = await run_probe(probe_of(driver), target(snmp_agent, cred), timeout=3)
    assert reading.status is ProbeStatus.AUTH_FAILED, reading.reason
    assert "wrong-key-12345" not in reading.reason
    assert reading.values.get("attempts") is None  # auth failures are not retried


async def test_nothing_listening(driver: str) -> None:
    """Neither library sees ICMP port-unreachable on its UDP socket: a closed port times out."""
    port = free_port(socket.SOCK_DGRAM)
    t = ProbeTarget(1, "127.0.0.1", port, snmp=SnmpOptions(SnmpV2c("public")))
    reading = await run_probe(probe_of(driver), t, timeout=0.5)
    assert reading.status is ProbeStatus.TIMEOUT


class _Garbage(asyncio.DatagramProtocol):
    """Answers every datagram with bytes that are not an SNMP message (a truncated BER
    SEQUENCE), so the client must cope with a malformed reply."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"\x30\x82\x01\x00\x02\x01\x01\x04\x06pub", addr)  # type: ignore[attr-defined]


@pytest.fixture
async def garbage_agent() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Garbage, local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_malformed_reply(driver: str, garbage_agent: int) -> None:
    t = ProbeTarget(1, "127.0.0.1", garbage_agent, snmp=SnmpOptions(SnmpV2c("public")))
    reading = await run_probe(probe_of(driver), t, timeout=0.5)
    assert reading.status is DIFFERENCES[driver]["garbage"], reading.reason


def test_default_driver_is_registered() -> None:
    assert DEFAULT_SNMP_DRIVER in DRIVERS
    assert getattr(get_probe("snmp"), "driver", None) == DEFAULT_SNMP_DRIVER


async def test_gufo_channels_are_reused_and_bounded(snmp_agent: SnmpAgent) -> None:
    """gufo-specific: one socket per target, reused; the LRU closes the oldest past its limit."""
    from fleet.probes.snmp_gufo import GufoProbe

    probe = GufoProbe()
    probe._channel_limit = 1
    good = target(snmp_agent, SnmpV2c(snmp_agent.community))
    other = ProbeTarget(8, "127.0.0.1", snmp_agent.port, snmp=SnmpOptions(SnmpV2c("other")))
    try:
        first = await run_probe(probe, good, timeout=2)
        second = await run_probe(probe, good, timeout=2)
        assert first.status is second.status is ProbeStatus.OK
        assert len(probe._loops[asyncio.get_running_loop()][1]) == 1
        assert (await run_probe(probe, other, timeout=0.3)).status is ProbeStatus.TIMEOUT
        assert (await run_probe(probe, good, timeout=2)).status is ProbeStatus.OK
        assert len(probe._loops[asyncio.get_running_loop()][1]) == 1
    finally:
        probe.close()


async def test_gufo_deadlines_hold_with_two_polls_of_one_silent_agent() -> None:
    """gufo-specific: a v2c poll arms no timer of its own; the channel's deadlines end it, and
    a second poll of the same agent waiting for the channel is bounded by its own deadline."""
    from fleet.probes.gufo_v2c import SWEEP_EVERY_S
    from fleet.probes.snmp_gufo import GufoProbe

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes requests, never answers
    silent.bind(("127.0.0.1", 0))
    probe = GufoProbe()
    t = ProbeTarget(1, "127.0.0.1", silent.getsockname()[1], snmp=SnmpOptions(SnmpV2c("x")))
    try:
        t0 = time.perf_counter()
        first, second = await asyncio.gather(
            run_probe(probe, t, timeout=0.3), run_probe(probe, t, timeout=0.3)
        )
        elapsed = time.perf_counter() - t0
        assert first.status is second.status is ProbeStatus.TIMEOUT
        assert 0.3 <= elapsed < 0.3 + SWEEP_EVERY_S + 0.3
        deadlines, _ = probe._loops[asyncio.get_running_loop()]
        assert not deadlines.waiting  # nothing left waiting...
        await asyncio.sleep(2 * SWEEP_EVERY_S)
        assert deadlines.timer is None  # ...and the timer is disarmed
    finally:
        probe.close()
        silent.close()


async def test_gufo_start_declines_a_busy_agent_and_v3(snmp_agent: SnmpAgent) -> None:
    """gufo-specific: ``start`` takes a v2c poll only when the agent's channel is free (the
    scheduler then runs the round as a task, which waits its turn), and no v3 poll."""
    from fleet.probes.snmp_gufo import GufoProbe

    probe = GufoProbe()
    good = target(snmp_agent, SnmpV2c(snmp_agent.community))
    loop = asyncio.get_running_loop()
    first: asyncio.Future[Reading] = loop.create_future()
    refused: list[Reading] = []
    try:
        assert probe.start(good, 2, first.set_result)
        assert not probe.start(good, 2, refused.append)  # the channel is busy
        waiting = asyncio.create_task(run_probe(probe, good, timeout=2))  # collect waits its turn
        assert (await first).status is ProbeStatus.OK
        assert (await waiting).status is ProbeStatus.OK
        assert not probe.start(target(snmp_agent, v3(snmp_agent, "fleet-sha")), 2, refused.append)
        bad = ProbeTarget(
            9,
            snmp_agent.host,
            snmp_agent.port,
            snmp=SnmpOptions(SnmpV2c(snmp_agent.community), extra_oids={"x": "not-an-oid"}),
        )
        assert not probe.start(bad, 2, refused.append)  # collect says what is wrong...
        assert not refused  # declined: done is never called
        reading = await run_probe(probe, bad, timeout=2)
        assert reading.status is ProbeStatus.ERROR
        assert "not a numeric OID" in reading.reason
    finally:
        probe.close()
