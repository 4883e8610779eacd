"""A simulated fleet for ``fleet demo``: real SNMP and SSH peers on 127.0.0.0/8."""

from fleet.demo.devices import SimDevice, SimEndpoint, SimulatorError, boot_uptime_s
from fleet.demo.simulator import SimulatedFleet

__all__ = ["SimDevice", "SimEndpoint", "SimulatedFleet", "SimulatorError", "boot_uptime_s"]
