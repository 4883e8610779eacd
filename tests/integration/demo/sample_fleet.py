"""A sample of ten simulated devices and helpers shared by the demo tests."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from fleet.demo import SimDevice, SimulatedFleet

ROUTER, SWITCH, FIREWALL, VPN, VSAT, LTE, CAMERA, WORKSTATION, UPS, MIKROTIK = range(1, 11)


def free_port(kind: int) -> int:
    """A port free on every address (bound on the wildcard), so no other service collides."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def sample_devices(net: str = "127.77.1") -> list[SimDevice]:
    """Ten devices of nine kinds, as the sample fleet describes them."""
    rows = [
        (ROUTER, "FGL2231A0BZ", "router", "Cisco", "ISR4331/K9", "17.9.5", True, "rtr01"),
        (SWITCH, "FOC2145X0QW", "switch", "Cisco", "Catalyst WS-C2960X-24PS-L", "15.2.7"),
        (FIREWALL, "FGT60FTK21226626", "firewall", "Fortinet", "FortiGate 60F", "7.4.7"),
        (VPN, "JMX2134Y0K1", "vpn_gateway", "Cisco", "ASA5516-X", "9.16.4"),
        (VSAT, "GC4-2121-72585", "satellite_modem", "Gilat", "SkyEdge II-c Capricorn 4", "5.4.2"),
        (LTE, "6000212345", "lte_modem", "Teltonika", "RUTX11", "7.9.3"),
        (CAMERA, "ZC9P7V2M382201K", "camera", "Hanwha Vision", "XNO-6080R", "2.21.02"),
        (WORKSTATION, "CZC1148GX1", "workstation", "HP", "EliteDesk 800 G6", "2.16.0", True),
        (UPS, "AS2147333528", "ups", "APC", "Smart-UPS SMT1500RMI2UC", "15.5"),
        (MIKROTIK, "8BED2A0294D8", "router", "MikroTik", "RB4011iGS+RM", "7.16.2"),
    ]
    devices = []
    for device_id, serial, kind, vendor, model, firmware, *rest in rows:
        ssh = bool(rest[0]) if rest else False
        hostname = str(rest[1]) if len(rest) > 1 else None
        address = f"{net}.{device_id}"
        devices.append(
            SimDevice(device_id, serial, kind, vendor, model, address, firmware, ssh, hostname)
        )
    return devices


@dataclass(frozen=True)
class Running:
    sim: SimulatedFleet
    ready_at: float  # time.time() when start() returned
    start_seconds: float
