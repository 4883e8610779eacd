"""snmpsim data for simulated devices: ``.snmprec`` text, communities and vendor sysDescr.

An ``.snmprec`` file is one ``OID|TAG|VALUE`` line per object, sorted by OID. A tag such as
``67:numeric`` hands the value to snmpsim's ``numeric`` variation module, which makes the
object tick: ``rate=100,initial=N`` grows by 100 per second from N (N at the agent's start).

Every sysDescr carries the firmware as ``Version <firmware>`` (any case), the form
:func:`fleet.probes.snmp.firmware_from_descr` reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

Row = tuple[str, str, str]

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_NUMBER = "1.3.6.1.2.1.2.1.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"

#: SNMP tags used here (snmprec spells types as BER tag numbers)
OCTET_STRING, INTEGER, OBJECT_ID = "4", "2", "6"
UPTIME_TICKING = "67:numeric"
COUNTER64_TICKING = "70:numeric"

LINUX_KERNEL = "6.1.0-28-amd64"
LINUX_BUILD = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)"

#: IANA enterprise numbers, for a plausible sysObjectID (net-snmp's Linux id otherwise, as
#: many embedded devices run net-snmp on Linux)
ENTERPRISES: dict[str, int] = {
    "cisco": 9,
    "hp": 11,
    "apc": 318,
    "axis communications": 368,
    "dell": 674,
    "fortinet": 12356,
    "mikrotik": 14988,
}
NET_SNMP_LINUX = "1.3.6.1.4.1.8072.3.2.10"


@dataclass(frozen=True, slots=True)
class Interface:
    """One simulated interface: ifDescr and its traffic in bytes per second."""

    name: str
    in_rate: int
    out_rate: int


def _ifaces(names: Iterable[str], in_rate: int, out_rate: int) -> tuple[Interface, ...]:
    # the first interface carries the traffic, the others a tenth of it
    return tuple(
        Interface(
            name, in_rate if i == 0 else in_rate // 10, out_rate if i == 0 else out_rate // 10
        )
        for i, name in enumerate(names)
    )


#: kind -> interfaces (2 to 4), with a traffic level typical of the kind
INTERFACES: dict[str, tuple[Interface, ...]] = {
    "router": _ifaces(
        ("GigabitEthernet0/0/0", "GigabitEthernet0/0/1", "GigabitEthernet0/1/0", "Tunnel0"),
        250_000,
        120_000,
    ),
    "switch": _ifaces(
        ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2", "GigabitEthernet1/0/3", "Vlan10"),
        400_000,
        400_000,
    ),
    "firewall": _ifaces(("wan1", "wan2", "internal", "dmz"), 240_000, 110_000),
    "vpn_gateway": _ifaces(("outside", "inside", "management"), 200_000, 90_000),
    "satellite_modem": _ifaces(("lan0", "sat0"), 60_000, 25_000),
    "lte_modem": _ifaces(("eth0", "wwan0", "wlan0"), 80_000, 30_000),
    "camera": _ifaces(("eth0", "lo"), 2_000, 500_000),
    "workstation": _ifaces(("eno1", "lo"), 40_000, 15_000),
    "ups": _ifaces(("eth0", "lo"), 200, 300),
}
DEFAULT_INTERFACES = _ifaces(("eth0", "usb0"), 5_000, 5_000)

#: a substring of a Cisco model -> (IOS family, image) for the sysDescr banner
_CISCO_IMAGES: tuple[tuple[str, str, str], ...] = (
    ("ISR1", "ISR", "X86_64_LINUX_IOSD-UNIVERSALK9-M"),
    ("ISR4", "ISR", "X86_64_LINUX_IOSD-UNIVERSALK9-M"),
    ("1941", "C1900", "C1900-UNIVERSALK9-M"),
    ("C9200", "Catalyst L3 Switch", "CAT9K_LITE_IOSXE"),
    ("2960X", "C2960X", "C2960X-UNIVERSALK9-M"),
)


def community_for(serial: str) -> str:
    """The v2c community that selects a device's data file: ``sim-<serial>``, lower case,
    anything but letters and digits as ``-``."""
    return "sim-" + re.sub(r"[^a-z0-9]+", "-", serial.lower()).strip("-")


def _cisco_image(model: str) -> tuple[str, str]:
    for needle, family, image in _CISCO_IMAGES:
        if needle in model.upper():
            return family, image
    return "ISR", "X86_64_LINUX_IOSD-UNIVERSALK9-M"


def sys_descr(kind: str, manufacturer: str, model: str, firmware: str | None, hostname: str) -> str:
    """A sysDescr in the vendor's style, with ``Version <firmware>`` when firmware is known."""
    vendor = manufacturer.lower()
    if vendor == "cisco" and kind == "vpn_gateway":
        return _join("Cisco Adaptive Security Appliance", firmware and f"Version {firmware}")
    if vendor == "cisco":
        family, image = _cisco_image(model)
        banner = f"Cisco IOS Software, {family} Software ({image})"
        return _join(banner, firmware and f"Version {firmware}, RELEASE SOFTWARE (fc1)", ", ")
    if vendor == "mikrotik":
        return _join(f"RouterOS {model}", firmware and f"version {firmware} (stable)")
    if vendor == "fortinet":
        return _join(f"Fortinet {model}", firmware and f"FortiOS version {firmware}", ", ")
    if kind == "workstation":
        linux = f"Linux {hostname} {LINUX_KERNEL} {LINUX_BUILD} x86_64, {manufacturer} {model}"
        return _join(linux, firmware and f"BIOS Version {firmware}", ", ")
    return _join(f"{manufacturer} {model}", firmware and f"firmware version {firmware}", ", ")


def _join(text: str, version: str | None, sep: str = " ") -> str:
    return f"{text}{sep}{version}" if version else text


def sys_object_id(manufacturer: str) -> str:
    number = ENTERPRISES.get(manufacturer.lower())
    return f"1.3.6.1.4.1.{number}.1" if number else NET_SNMP_LINUX


def device_rows(
    *,
    kind: str,
    manufacturer: str,
    model: str,
    firmware: str | None,
    hostname: str,
    uptime_ticks: int,
) -> list[Row]:
    """The objects one device serves: system group, ifTable status and ticking counters."""
    rows: list[Row] = [
        (SYS_DESCR, OCTET_STRING, sys_descr(kind, manufacturer, model, firmware, hostname)),
        (SYS_OBJECT_ID, OBJECT_ID, sys_object_id(manufacturer)),
        (SYS_UPTIME, UPTIME_TICKING, f"rate=100,initial={uptime_ticks}"),
        (SYS_NAME, OCTET_STRING, hostname),
    ]
    interfaces = INTERFACES.get(kind, DEFAULT_INTERFACES)
    rows.append((IF_NUMBER, INTEGER, str(len(interfaces))))
    for index, iface in enumerate(interfaces, start=1):
        # counters start where the interface would be after the device's uptime
        seconds = uptime_ticks // 100
        rows += [
            (f"{IF_DESCR}.{index}", OCTET_STRING, iface.name),
            (f"{IF_OPER_STATUS}.{index}", INTEGER, "1"),
            (
                f"{IF_HC_IN_OCTETS}.{index}",
                COUNTER64_TICKING,
                f"rate={iface.in_rate},initial={iface.in_rate * seconds}",
            ),
            (
                f"{IF_HC_OUT_OCTETS}.{index}",
                COUNTER64_TICKING,
                f"rate={iface.out_rate},initial={iface.out_rate * seconds}",
            ),
        ]
    return rows


def _oid_key(row: Row) -> list[int]:
    return [int(part) for part in row[0].split(".")]


def render(rows: Iterable[Row]) -> str:
    """``.snmprec`` text: one ``OID|TAG|VALUE`` line per row, in OID order."""
    lines = []
    for oid, tag, value in sorted(rows, key=_oid_key):
        if "\n" in value or "\r" in value:
            raise ValueError(f"snmprec values are one line: {oid}")
        lines.append(f"{oid}|{tag}|{value}\n")
    return "".join(lines)
