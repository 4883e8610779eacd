"""The probe contract, the runner that turns every failure into a reading, and the registry.

A probe is anything with a ``kind`` and ``async collect(target, timeout) -> Reading``.
:func:`run_probe` applies the timeout, retries transient failures and guarantees that no
exception escapes (except ``asyncio.CancelledError``, so a cancelled round stops at once, and
the interpreter's own exits): a ``BaseException`` from a driver, such as a Rust extension's
panic, is a reading too.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fleet.probes.types import (
    ProbeConfigError,
    ProbeFailure,
    ProbeStatus,
    ProbeTarget,
    Reading,
    utcnow,
)

if TYPE_CHECKING:
    from fleet.settings import Settings

#: Statuses worth another attempt; auth, host key and parse failures would fail again.
RETRYABLE: frozenset[ProbeStatus] = frozenset(
    {ProbeStatus.TIMEOUT, ProbeStatus.REFUSED, ProbeStatus.ERROR}
)
MAX_REASON = 200
#: What passes through the runner and the scheduler's callbacks: cancellation and the
#: interpreter's own exits. Anything else a driver raises ends as a reading.
PASSED_ON = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


@runtime_checkable
class Probe(Protocol):
    """``kind`` names what it probes. A driver whose ``collect`` returns or raises within
    ``timeout`` by itself may say so with a class attribute ``bounded = True``: the runner then
    does not arm a deadline of its own around it."""

    kind: str

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading: ...  # noqa: ASYNC109


def is_panic(exc: BaseException) -> bool:
    """A Rust extension's panic (pyo3's ``PanicException``: a ``BaseException`` that no module
    exports by name), such as gufo-snmp's on some malformed replies."""
    return type(exc).__name__ == "PanicException"


def short_reason(exc: BaseException) -> str:
    """One line naming the exception, never a traceback."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return truncate(f"{name}: {text}" if text else name)


def truncate(text: str, limit: int = MAX_REASON) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def target_secrets(target: ProbeTarget) -> list[str]:
    """Every secret a target carries, to scrub them out of reasons."""
    found: list[str] = []
    if target.snmp is not None:
        cred = target.snmp.credentials
        found += [getattr(cred, name, None) or "" for name in ("community", "auth_key", "priv_key")]
    if target.ssh is not None:
        found += [target.ssh.credentials.password or "", target.ssh.secret or ""]
        found += [target.ssh.credentials.private_key or ""]
    if target.http is not None and target.http.credentials is not None:
        found += [
            target.http.credentials.bearer_token or "",
            target.http.credentials.password or "",
        ]
    return [s for s in found if len(s) >= 3]


def scrub(text: str, target: ProbeTarget) -> str:
    for secret in target_secrets(target):
        text = text.replace(secret, "***")
    return text


def failed(
    kind: str,
    target: ProbeTarget,
    status: ProbeStatus,
    reason: str,
    started_at: datetime | None = None,
    t0: float | None = None,
) -> Reading:
    """A reading for a failed probe (helper for drivers and the runner)."""
    return Reading(
        kind=kind,
        device_id=target.device_id,
        status=status,
        reason=truncate(scrub(reason, target)),
        started_at=started_at if started_at is not None else utcnow(),
        duration_ms=(time.perf_counter() - t0) * 1000 if t0 is not None else 0.0,
    )


def hard_deadline(timeout: float) -> float:
    """The runner's limit: a little over the driver's own timeout, so a driver that handles
    its timeout itself can report a precise reason first."""
    return timeout * 1.05 + 0.1


async def _attempt(probe: Probe, target: ProbeTarget, timeout: float) -> tuple[Reading, bool]:  # noqa: ASYNC109
    """One attempt; returns the reading and whether a retry may help."""
    started_at = utcnow()
    t0 = time.perf_counter()
    kind = getattr(probe, "kind", "unknown")
    try:
        if getattr(probe, "bounded", False):  # it keeps its own deadline: no second one
            reading = await probe.collect(target, timeout)
        else:
            async with asyncio.timeout(hard_deadline(timeout)):
                reading = await probe.collect(target, timeout)
    except ProbeFailure as exc:
        reading = failed(kind, target, exc.status, exc.reason, started_at, t0)
    except ProbeConfigError as exc:
        return failed(kind, target, ProbeStatus.ERROR, str(exc), started_at, t0), False
    except TimeoutError:
        reading = failed(
            kind, target, ProbeStatus.TIMEOUT, f"no answer within {timeout:g} s", started_at, t0
        )
    except ConnectionRefusedError as exc:
        reading = failed(kind, target, ProbeStatus.REFUSED, short_reason(exc), started_at, t0)
    except PASSED_ON:
        raise
    except BaseException as exc:  # a panic of a driver's extension included
        reading = failed(kind, target, ProbeStatus.ERROR, short_reason(exc), started_at, t0)
    else:
        if not isinstance(reading, Reading):
            reading = failed(
                kind,
                target,
                ProbeStatus.ERROR,
                f"driver returned {type(reading).__name__}",
                started_at,
                t0,
            )
        reading = checked(reading, target)
    return reading, reading.status in RETRYABLE


def checked(reading: Reading, target: ProbeTarget) -> Reading:
    """A driver's reading as the runner hands it on: no secret of the target in its reason."""
    if reading.reason:
        reading.reason = truncate(scrub(reading.reason, target))
    return reading


async def run_probe(probe: Probe, target: ProbeTarget, timeout: float, retries: int = 0) -> Reading:  # noqa: ASYNC109
    """Run ``probe`` against ``target``: at most ``1 + retries`` attempts, each bounded by
    ``timeout`` seconds; retried only on timeout, refused or error. Never raises except
    ``asyncio.CancelledError``. The reading's ``values["attempts"]`` counts the attempts."""
    attempts = 0
    while True:
        attempts += 1
        reading, retryable = await _attempt(probe, target, timeout)
        if not (retryable and retry_due(attempts, retries)):
            return attempted(reading, attempts)


def retry_due(attempts: int, retries: int) -> bool:
    """Whether a round whose last attempt failed in a way a retry may help (timeout, refused,
    error: :data:`RETRYABLE`) tries again after ``attempts``: at most ``retries`` times. The
    rule of every round, driven or not."""
    return attempts <= max(0, retries)


def attempted(reading: Reading, attempts: int) -> Reading:
    """The reading a round ends with: ``values["attempts"]`` counts them when more than one."""
    if attempts > 1:
        reading.values["attempts"] = attempts
    return reading


# --- registry -------------------------------------------------------------------------------

#: (kind, driver name) -> "module:Class". Imported lazily: pysnmp or netmiko load only if used.
DRIVERS: dict[tuple[str, str], str] = {
    ("snmp", "pysnmp"): "fleet.probes.snmp_pysnmp:PysnmpProbe",
    ("snmp", "gufo"): "fleet.probes.snmp_gufo:GufoProbe",
    ("ssh", "netmiko"): "fleet.probes.ssh:SshProbe",
    ("http", "httpx"): "fleet.probes.http:HttpProbe",
    ("tcp", "asyncio"): "fleet.probes.tcp:TcpProbe",
}


def default_driver(kind: str) -> str:
    if kind == "snmp":
        from fleet.probes.snmp import DEFAULT_SNMP_DRIVER

        return DEFAULT_SNMP_DRIVER
    return {"ssh": "netmiko", "http": "httpx", "tcp": "asyncio"}[kind]


_instances: dict[tuple[str, str], Probe] = {}


def get_probe(kind: str, driver: str | None = None) -> Probe:
    """The (shared, per-process) driver for ``kind``; ``driver`` picks a non-default one."""
    key = (kind, driver or default_driver(kind))
    probe = _instances.get(key)
    if probe is None:
        try:
            path = DRIVERS[key]
        except KeyError:
            raise LookupError(f"no probe driver {key[1]!r} for kind {kind!r}") from None
        module_name, _, class_name = path.partition(":")
        probe = getattr(importlib.import_module(module_name), class_name)()
        _instances[key] = probe
    return probe


def probe_for(kind: str, settings: Settings) -> Probe:
    """The driver ``settings`` choose for ``kind``: ``probe_snmp_driver`` for SNMP, the
    default for the others."""
    return get_probe(kind, settings.probe_snmp_driver if kind == "snmp" else None)
