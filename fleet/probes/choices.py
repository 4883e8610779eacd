"""Enumerations of the probes domain: the states of devices, links and sites."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """What fleet shows of a device, a link or a site (``fleet.probes.rules`` says when)."""

    up = "up"
    degraded = "degraded"
    down = "down"
    unreachable = "unreachable"
    connected = "connected"
    disconnected = "disconnected"
    maintenance = "maintenance"
    unknown = "unknown"


DEVICE_STATES = (
    State.up,
    State.degraded,
    State.down,
    State.unreachable,
    State.maintenance,
    State.unknown,
)
LINK_STATES = (State.up, State.down, State.maintenance, State.unknown)
SITE_STATES = (
    State.connected,
    State.degraded,
    State.disconnected,
    State.maintenance,
    State.unknown,
)
#: The states that count as available, and those left out of the time counted.
AVAILABLE = frozenset({State.up, State.degraded, State.connected})
NOT_COUNTED = frozenset({State.maintenance, State.unknown})
