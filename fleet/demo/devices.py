"""What the simulator is given and gives back: the devices to simulate, where each answers,
and the checks on them (a known kind, an address in 127.0.0.0/8)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fleet.demo import snmprec

DEFAULT_SNMP_PORT = 16161
DEFAULT_SSH_PORT = 2222
KINDS = frozenset(
    {
        "camera",
        "fingerprint_scanner",
        "document_reader",
        "forensic_kit",
        "router",
        "switch",
        "firewall",
        "vpn_gateway",
        "satellite_modem",
        "lte_modem",
        "workstation",
        "ups",
    }
)
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class SimulatorError(RuntimeError):
    """The simulator could not start, or a device's process is gone."""


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One device to simulate. ``address`` is its own address in 127.0.0.0/8."""

    device_id: int
    serial: str
    kind: str
    manufacturer: str
    model: str
    address: str
    firmware: str | None
    ssh: bool = False
    hostname: str | None = None  # sysName and SSH prompt; derived from the serial if None

    @property
    def name(self) -> str:
        return self.hostname or f"{self.kind.replace('_', '-')}-{self.serial.lower()}"


@dataclass(frozen=True, slots=True)
class SimEndpoint:
    """Where and how a simulated device answers."""

    address: str
    snmp_port: int
    community: str
    ssh_port: int | None


def boot_uptime_s(device_id: int) -> int:
    """The uptime (seconds) a device reports when the simulator starts: 3 to 182 days,
    fixed per device id so that runs are repeatable."""
    days = 3 + (device_id * 37) % 180
    return days * 86400 + (device_id * 7919) % 86400


def address_of(device: SimDevice) -> str:
    return device.address


def community_of(device: SimDevice) -> str:
    return snmprec.community_for(device.serial)


def check(device: SimDevice) -> None:
    if device.kind not in KINDS:
        raise ValueError(f"device {device.device_id}: unknown kind {device.kind!r}")
    try:
        address = ipaddress.ip_address(device.address)
    except ValueError:
        raise ValueError(f"device {device.device_id}: bad address {device.address!r}") from None
    if address not in LOOPBACK:
        raise ValueError(f"device {device.device_id}: {device.address} is not in 127.0.0.0/8")
