"""The runner: every failure becomes a reading, timeouts and retries are bounded."""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet.probes.base import Probe, get_probe, run_probe
from fleet.probes.types import (
    ProbeConfigError,
    ProbeFailure,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    SnmpV2c,
    SshCredentials,
    SshOptions,
    utcnow,
)

pytestmark = pytest.mark.anyio

TARGET = ProbeTarget(device_id=1, address="127.0.0.1", port=9)


class FakeProbe:
    """A scripted probe: each attempt takes the next behaviour from ``script``."""

    kind = "fake"

    def __init__(self, *script: object, delay: float = 0.0) -> None:
        self.script = list(script)
        self.delay = delay
        self.attempts = 0

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        self.attempts += 1
        step = self.script[min(self.attempts, len(self.script)) - 1] if self.script else "ok"
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, ProbeStatus):
            return Reading("fake", target.device_id, step, utcnow(), reason=str(step))
        return Reading("fake", target.device_id, ProbeStatus.OK, utcnow())


def test_fake_probe_satisfies_the_protocol() -> None:
    assert isinstance(FakeProbe(), Probe)


async def test_ok() -> None:
    reading = await run_probe(FakeProbe(), TARGET, timeout=1)
    assert reading.status is ProbeStatus.OK
    assert "attempts" not in reading.values


async def test_arbitrary_exception_becomes_error() -> None:
    reading = await run_probe(FakeProbe(KeyError("boom")), TARGET, timeout=1)
    assert reading.status is ProbeStatus.ERROR
    assert reading.reason == "KeyError: 'boom'"
    assert reading.kind == "fake"
    assert reading.device_id == 1
    assert reading.duration_ms >= 0


async def test_probe_failure_keeps_its_status() -> None:
    probe = FakeProbe(ProbeFailure(ProbeStatus.AUTH_FAILED, "bad key"))
    reading = await run_probe(probe, TARGET, timeout=1, retries=3)
    assert (reading.status, reading.reason) == (ProbeStatus.AUTH_FAILED, "bad key")
    assert probe.attempts == 1  # not worth retrying


async def test_refused_connection_maps_to_refused() -> None:
    reading = await run_probe(FakeProbe(ConnectionRefusedError(111, "nope")), TARGET, timeout=1)
    assert reading.status is ProbeStatus.REFUSED


async def test_slow_probe_times_out() -> None:
    probe = FakeProbe(delay=10)
    t0 = time.perf_counter()
    reading = await run_probe(probe, TARGET, timeout=0.2)
    assert reading.status is ProbeStatus.TIMEOUT
    assert reading.reason == "no answer within 0.2 s"
    assert time.perf_counter() - t0 < 1


@pytest.mark.parametrize("status", [ProbeStatus.TIMEOUT, ProbeStatus.REFUSED, ProbeStatus.ERROR])
async def test_transient_failures_are_retried_a_bounded_number_of_times(
    status: ProbeStatus,
) -> None:
    probe = FakeProbe(status)
    reading = await run_probe(probe, TARGET, timeout=1, retries=2)
    assert reading.status is status
    assert probe.attempts == 3
    assert reading.values["attempts"] == 3


async def test_retry_stops_at_first_success() -> None:
    probe = FakeProbe(ProbeStatus.TIMEOUT, "ok")
    reading = await run_probe(probe, TARGET, timeout=1, retries=5)
    assert reading.status is ProbeStatus.OK
    assert probe.attempts == 2
    assert reading.values["attempts"] == 2


@pytest.mark.parametrize(
    "status", [ProbeStatus.AUTH_FAILED, ProbeStatus.HOST_KEY_MISMATCH, ProbeStatus.PARSE_ERROR]
)
async def test_definite_failures_are_not_retried(status: ProbeStatus) -> None:
    probe = FakeProbe(status)
    await run_probe(probe, TARGET, timeout=1, retries=3)
    assert probe.attempts == 1


async def test_config_error_is_not_retried() -> None:
    probe = FakeProbe(ProbeConfigError("command 'reload' is not allowed"))
    reading = await run_probe(probe, TARGET, timeout=1, retries=3)
    assert reading.status is ProbeStatus.ERROR
    assert probe.attempts == 1


async def test_timeouts_with_retries_are_bounded_in_time() -> None:
    probe = FakeProbe(delay=10)
    t0 = time.perf_counter()
    reading = await run_probe(probe, TARGET, timeout=0.1, retries=2)
    assert reading.status is ProbeStatus.TIMEOUT
    assert probe.attempts == 3
    assert time.perf_counter() - t0 < 1.5


async def test_cancellation_propagates() -> None:
    task = asyncio.create_task(run_probe(FakeProbe(delay=10), TARGET, timeout=5))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_secrets_are_scrubbed_from_reasons() -> None:
    target = ProbeTarget(
        2,
        "127.0.0.1",
        snmp=SnmpOptions(SnmpV2c("s3cret-community")),
        ssh=SshOptions("linux", SshCredentials("admin", "hunter2-pass")),
    )
    probe = FakeProbe(RuntimeError("login hunter2-pass failed for s3cret-community"))
    reading = await run_probe(probe, target, timeout=1)
    assert reading.reason == "RuntimeError: login *** failed for ***"


async def test_reason_is_short_and_one_line() -> None:
    reading = await run_probe(FakeProbe(ValueError("x\n" * 500)), TARGET, timeout=1)
    assert len(reading.reason) <= 200
    assert "\n" not in reading.reason


async def test_a_dead_and_a_slow_target_do_not_hold_up_the_others() -> None:
    """One round: a refusing device, a device slower than the timeout, and healthy ones."""
    healthy = [FakeProbe(delay=0.05) for _ in range(20)]
    dead = FakeProbe(ConnectionRefusedError(111, "refused"))
    slow = FakeProbe(delay=30)
    timeout = 1.0

    async def timed(probe: FakeProbe) -> tuple[Reading, float]:
        t0 = time.perf_counter()
        reading = await run_probe(probe, TARGET, timeout=timeout, retries=1)
        return reading, time.perf_counter() - t0

    t0 = time.perf_counter()
    results = await asyncio.gather(*(timed(p) for p in [dead, slow, *healthy]))
    total = time.perf_counter() - t0

    (dead_reading, _), (slow_reading, slow_elapsed), *rest = results
    assert dead_reading.status is ProbeStatus.REFUSED
    assert dead.attempts == 2
    assert slow_reading.status is ProbeStatus.TIMEOUT
    assert all(r.status is ProbeStatus.OK for r, _ in rest)
    assert max(elapsed for _, elapsed in rest) < 0.5  # finished without waiting for the slow one
    assert slow_elapsed < 2 * timeout * 1.2 + 0.5  # two bounded attempts
    assert total < 3.5


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.*")
def test_registry() -> None:
    for kind in ("snmp", "ssh", "http", "tcp"):
        probe = get_probe(kind)
        assert probe.kind == kind
        assert get_probe(kind) is probe  # one shared driver per process
    assert get_probe("snmp", "pysnmp").kind == "snmp"
    with pytest.raises(LookupError):
        get_probe("snmp", "nope")


class Bounded(FakeProbe):
    bounded = True  # says it keeps its own deadline


async def test_a_driver_keeping_its_own_deadline_gets_no_second_one() -> None:
    # 0.3 s is past the runner's deadline for a 0.1 s timeout (0.205 s): the runner cuts an
    # ordinary driver there, and leaves a bounded one to answer
    ordinary = await run_probe(FakeProbe(delay=0.3), TARGET, timeout=0.1)
    assert ordinary.status is ProbeStatus.TIMEOUT
    bounded = await run_probe(Bounded(delay=0.3), TARGET, timeout=0.1)
    assert bounded.status is ProbeStatus.OK
