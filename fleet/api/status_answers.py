"""The status answers as the OpenAPI document declares them, and the columns each shows: the
routes of :mod:`fleet.api.status` build their answers from the same field lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from fleet.api.representations import columns, items_of, typed
from fleet.inventory.choices import LinkMedium, LinkRole
from fleet.inventory.models import Device, Link, Site
from fleet.probes.availability import Availability
from fleet.probes.choices import DEVICE_STATES, LINK_STATES, SITE_STATES, State
from fleet.probes.events import EVENT_FIELDS
from fleet.probes.models import ObjectStatus, ProbeResult, StateEvent
from fleet.probes.types import InterfaceReading, ProbeStatus

#: A site's columns in its headline (then its country, status, link in use and devices).
SITE_FIELDS = ("id", "code", "name", "kind", "latitude", "longitude", "criticality")
#: An object's status columns, after its own.
STATUS_FIELDS = ("state", "since", "reason", "last_result_at")
DEVICE_FIELDS = ("id", "serial", "hostname", "lifecycle", "probes", "parent_id")
LINK_FIELDS = ("id", "circuit_id", "medium", "role", "lifecycle", "terminating_device_id")
RESULT_FIELDS = ("id", "device_id", "kind", "at", "status", "duration_ms", "reason", "data")


def one_of(values: Iterable[StrEnum]) -> Any:
    """The type of a field holding one of ``values`` (an ``enum`` in the document)."""
    return Literal[tuple(value.value for value in values)]


SINCE = (datetime | None, Field(description="In this state since (null: never probed)"))


class LinkInUse(BaseModel):
    """The link carrying a site's traffic."""

    circuit_id: str
    role: LinkRole
    medium: LinkMedium


class EdgeReach(BaseModel):
    """The edge poller serving the site, as of its last heartbeat."""

    reach: Literal["in_touch", "buffering", "dark"] = Field(
        description="in_touch: heard within 90 s; buffering: silent longer but within its "
        "buffer's age limit (what happens at the site is kept and will come); dark: silent "
        "beyond it, or never heard"
    )
    heartbeat_at: datetime | None = Field(description="Its last heartbeat (null: never)")
    heard_s_ago: float | None = Field(description="Seconds since its last heartbeat")
    buffered: int | None = Field(description="Rounds waiting in its buffer")
    oldest_buffered_at: datetime | None = Field(description="Its oldest buffered round's time")
    dropped: int | None = Field(description="Rounds its buffer's bounds dropped")
    version: str | None = Field(description="Its fleet version")


def _status(states: Iterable[State]) -> dict[str, Any]:
    return {"state": (one_of(states), Field(description="What fleet shows")), "since": SINCE}


_headline: dict[str, Any] = {
    "country": (str, Field(description="The site's country code")),
    **_status(SITE_STATES),
    "reason": str | None,
    "link_in_use": (
        LinkInUse | None,
        Field(description="The link carrying the site's traffic (null: none is up)"),
    ),
    "edge": (
        EdgeReach | None,
        Field(description="The edge poller probing the site (null: central probes it)"),
    ),
}
SiteHeadline = columns(
    "SiteHeadline",
    "A site's state, the link in use and its devices counted by state.",
    Site,
    SITE_FIELDS,
    **_headline,
    devices=(dict[str, int], Field(description="Devices by state")),
)
SiteHeadlinePage = items_of("SiteHeadlinePage", "A page of site headlines.", SiteHeadline)
_object_status = typed(ObjectStatus, STATUS_FIELDS)
DeviceStatus = columns(
    "DeviceStatus",
    "A device of the site and its state.",
    Device,
    DEVICE_FIELDS,
    **_object_status | _status(DEVICE_STATES),
    policy_waiver=(
        dict[str, str] | None,
        Field(description="The SNMPv3 legacy waiver it probes under: profile and reason"),
    ),
)
LinkStatus = columns(
    "LinkStatus",
    "A link of the site and its state.",
    Link,
    LINK_FIELDS,
    **_object_status | _status(LINK_STATES),
)
SiteStatus = columns(
    "SiteStatus",
    "A site's headline with every device and link and their states.",
    Site,
    SITE_FIELDS,
    **_headline,
    devices=list[DeviceStatus],  # type: ignore[valid-type]
    links=list[LinkStatus],  # type: ignore[valid-type]
)


class ProbeData(BaseModel):
    """What a probe read, each part only when it read it (see ``fleet.probes.store``)."""

    uptime_seconds: float | None = None
    firmware_version: str | None = None
    sys_descr: str | None = None
    interfaces: list[InterfaceReading] | None = Field(default=None, description="At most 16")
    # str | float, not Value: an integer is a number too, and `oneOf` would refuse it
    values: dict[str, str | float] | None = Field(default=None, description="At most 32")
    http_status: int | None = None


Result = columns(
    "ProbeResult",
    "One probe of one device.",
    ProbeResult,
    RESULT_FIELDS,
    status=(one_of(ProbeStatus), Field(description="How the probe ended")),
    data=(ProbeData | None, Field(description="What it read (null: nothing)")),
)
ResultPage = items_of("ProbeResultPage", "A page of probe results, newest first.", Result)
Probed = columns(
    "ProbeReadings",
    "The readings of a probe run now.",
    device_id=int,
    results=list[Result],  # type: ignore[valid-type]
)
Event = columns(
    "StateEvent",
    "A change of state of a device, link or site, with its cause.",
    StateEvent,
    EVENT_FIELDS,
    country=(str, Field(description="The object's country code")),
    old_state=one_of(State),
    new_state=one_of(State),
)
EventPage = items_of("StateEventPage", "A page of state events, newest first.", Event)
AvailabilityAnswer = Availability
