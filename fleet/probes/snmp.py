"""What one SNMP poll asks for and how the answers become a :class:`Reading`.

Both SNMP drivers (``snmp_pysnmp`` and ``snmp_gufo``) share this module, so they build the
same request and the same reading; only the wire library differs.

One poll is exactly two requests when the interfaces fit in one GETBULK:

1. GET sysUpTime.0, sysDescr.0, the target's extra OIDs and, when the target names an
   interface, that interface's ifHCInOctets/ifHCOutOctets and ifInOctets/ifOutOctets;
2. GETBULK ifOperStatus with ``max_repetitions`` (continued only if the table is longer).
"""

from __future__ import annotations

import functools
import operator
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from fleet.probes.types import (
    InterfaceReading,
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    Value,
)

#: The SNMP drivers registered in :data:`fleet.probes.base.DRIVERS` (``FLEET_PROBE_SNMP_DRIVER``).
SnmpDriver = Literal["gufo", "pysnmp"]

#: The driver :func:`fleet.probes.base.get_probe` returns for ``"snmp"``: gufo-snmp, which costs
#: 20-35x less CPU per poll than pysnmp (figures in ``bench/README.md``); pysnmp stays as the
#: reference and for what gufo-snmp cannot do (SNMPv3 context names).
DEFAULT_SNMP_DRIVER: SnmpDriver = "gufo"

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
IF_OUT_OCTETS = "1.3.6.1.2.1.2.2.1.16"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"

#: IF-MIB ifOperStatus enumeration.
OPER_STATUS: dict[int, str] = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}

#: Guard against agents that never leave the subtree (or answer with non-increasing OIDs).
MAX_WALK_REQUESTS = 64

_VERSION_RE = re.compile(r"\bVersion:?\s+([0-9][\w.()\-]*[\w)])", re.IGNORECASE)
_OID_RE = re.compile(r"^[0-2](\.\d+)+$")


_BY_INDEX = operator.attrgetter("index")


class SnmpParseError(Exception):
    """The agent answered with something a poll cannot use."""


def options(target: ProbeTarget) -> SnmpOptions:
    if target.snmp is None:
        raise ProbeConfigError("target has no SNMP options")
    return target.snmp


def check_oid(oid: str) -> str:
    oid = oid.lstrip(".")
    if not _OID_RE.match(oid):
        raise ProbeConfigError(f"not a numeric OID: {oid!r}")
    return oid


def get_oids(target: ProbeTarget) -> list[str]:
    """The OIDs of the poll's GET, in a fixed order."""
    opts = options(target)
    oids = [SYS_UPTIME, SYS_DESCR]
    if not opts.extra_oids and target.interface_index is None:
        return oids  # the usual poll
    oids += [check_oid(oid) for oid in opts.extra_oids.values()]
    if target.interface_index is not None:
        i = target.interface_index
        oids += [
            f"{IF_HC_IN_OCTETS}.{i}",
            f"{IF_HC_OUT_OCTETS}.{i}",
            f"{IF_IN_OCTETS}.{i}",
            f"{IF_OUT_OCTETS}.{i}",
        ]
    return list(dict.fromkeys(oids))


@functools.lru_cache(maxsize=4096)  # a device says the same every round
def firmware_from_descr(descr: str | None) -> str | None:
    """``Version 15.0(2)SE11`` style firmware from sysDescr, when it says so."""
    if not descr:
        return None
    match = _VERSION_RE.search(descr)
    return match.group(1) if match else None


def _as_text(value: Value | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def in_subtree(oid: str, prefix: str) -> bool:
    return oid.startswith(prefix + ".")


def build_reading(
    target: ProbeTarget,
    got: Mapping[str, Value | bytes | None],
    oper_status: Iterable[tuple[str, Value | bytes | None]],
    base: Reading,
) -> Reading:
    """Fill ``base`` (status ok) from the GET answers and the ifOperStatus walk.

    ``got`` maps requested OIDs to values (missing or ``None``: the agent has no such object);
    octet strings may come as bytes. Raises :class:`SnmpParseError` on unusable values.
    """
    uptime = got.get(SYS_UPTIME)
    if uptime is not None:
        ticks = _as_int(uptime)
        if ticks is None:
            raise SnmpParseError(f"sysUpTime is not TimeTicks: {type(uptime).__name__}")
        base.uptime_seconds = ticks / 100.0
    descr = got.get(SYS_DESCR)
    if descr is not None:
        base.sys_descr = _as_text(descr)
        base.firmware_version = firmware_from_descr(base.sys_descr)

    opts = options(target)
    for name, oid in opts.extra_oids.items():
        value = got.get(check_oid(oid))
        if value is None:
            continue
        base.values[name] = _as_text(value) if isinstance(value, bytes) else value

    prefix = IF_OPER_STATUS + "."
    prefix_len = len(prefix)
    interfaces: list[InterfaceReading] = []
    append = interfaces.append
    for oid, value in oper_status:
        if not oid.startswith(prefix):
            continue
        index_text = oid[prefix_len:]
        # an INTEGER (not a bool, which is an int too) and a numeric index (as _as_int)
        if not isinstance(value, int) or isinstance(value, bool) or not index_text.isdigit():
            raise SnmpParseError(f"bad ifOperStatus row {oid}")
        append(InterfaceReading(int(index_text), OPER_STATUS.get(value) or str(value)))

    if target.interface_index is not None:
        i = target.interface_index
        in_octets = _as_int(got.get(f"{IF_HC_IN_OCTETS}.{i}"))
        out_octets = _as_int(got.get(f"{IF_HC_OUT_OCTETS}.{i}"))
        if in_octets is None or out_octets is None:  # no 64-bit counters: fall back to 32-bit
            in_octets = _as_int(got.get(f"{IF_IN_OCTETS}.{i}"))
            out_octets = _as_int(got.get(f"{IF_OUT_OCTETS}.{i}"))
        row = next((x for x in interfaces if x.index == i), None)
        if row is None:
            row = InterfaceReading(i, "notPresent" if in_octets is None else "unknown")
            interfaces.append(row)
        row.in_octets, row.out_octets = in_octets, out_octets

    interfaces.sort(key=_BY_INDEX)
    base.interfaces = interfaces
    base.status = ProbeStatus.OK
    return base


def reading_of(
    kind: str,
    target: ProbeTarget,
    got: Mapping[str, Value | bytes | None],
    oper_status: Iterable[tuple[str, Value | bytes | None]],
    started_at: datetime,
    t0: float,
) -> Reading:
    """The reading of a poll that got its answers (``build_reading``), timed from ``t0``
    (``time.perf_counter``)."""
    base = Reading(
        kind=kind, device_id=target.device_id, status=ProbeStatus.ERROR, started_at=started_at
    )
    reading = build_reading(target, got, oper_status, base)
    reading.duration_ms = (time.perf_counter() - t0) * 1000
    return reading


def timeout_reason(target: ProbeTarget) -> str:
    opts = options(target)
    if hasattr(opts.credentials, "community"):
        return "no answer: wrong community or unreachable"
    return "no answer: unreachable, or wrong SNMPv3 context/security level"
