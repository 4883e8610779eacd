"""API input schemas for the inventory. Every schema forbids unknown fields; numbers and booleans
are strict, so ``"12"`` is not taken for ``12``. Update schemas are the create schemas with every
field optional (absent means unchanged) and without the key that names the object in its URL."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    WithJsonSchema,
    create_model,
)

from fleet.inventory.choices import (
    DeviceKind,
    DeviceLifecycle,
    LinkLifecycle,
    LinkMedium,
    LinkRole,
    SiteKind,
    SiteLifecycle,
)

_TIMEZONES = frozenset(available_timezones()) | {"UTC"}


def _whole(value: Any) -> Any:
    """A whole number as JSON Schema has it (``2`` or ``2.0``), never ``"2"`` or ``true``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Input should be a valid integer, without a fractional part")
        return int(value)
    return value


#: Goes last in an integer field's ``Annotated[int, Field(...), WHOLE]``, after the bounds.
WHOLE = BeforeValidator(_whole)


def _timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Africa/Niamey)")
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


#: An IANA time zone (the server knows which exist; the document gives their shape).
Timezone = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
        max_length=64,
        description="IANA time zone, e.g. Africa/Niamey",
    ),
    AfterValidator(_timezone),
]
IpAddress = Annotated[
    str,
    AfterValidator(_ip_address),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}],
            "description": "IPv4 or IPv6 address",
        }
    ),
]


def _tags(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("tags must not repeat")
    return value


Text = Annotated[str, Field(min_length=1, max_length=200)]
Notes = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,39}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
SiteCode = Annotated[
    str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$", description="Unique site code, e.g. NE-BCL-01")
]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$", description="Catalogue slug")]
Serial = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,79}$")]
Firmware = Annotated[str, Field(min_length=1, max_length=64)]
Hostname = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    ),
]
Id = Annotated[int, Field(ge=1, le=2**31 - 1), WHOLE]


ProbeKind = Literal["snmp", "ssh", "http", "tcp"]
SshPlatform = Literal["cisco_ios", "cisco_xe", "cisco_nxos", "arista_eos", "juniper_junos", "linux"]
ProfileName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$")]
OidName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
Oid = Annotated[str, Field(pattern=r"^[0-2](\.[0-9]{1,10}){1,40}$")]
HttpScheme = Literal["http", "https"]
HttpPort = Annotated[int, Field(ge=1, le=65535), WHOLE]
HttpPath = Annotated[str, Field(pattern=r"^/[!-~]{0,199}$", description="Starts with /")]
HttpStatus = Annotated[int, Field(ge=100, le=599), WHOLE]


def _unique_probes(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("a probe kind appears twice")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CountryCreate(Strict):
    """A country fleet operates in."""

    code: CountryCode
    name: Text
    region: Text = Field(description="Region such as West Africa or Sahel")


class SiteCreate(Strict):
    """A site: a bureau or a border crossing point."""

    code: SiteCode
    name: Text
    kind: SiteKind
    country: CountryCode = Field(description="Code of the site's country")
    latitude: Annotated[StrictFloat, Field(ge=-90, le=90)]
    longitude: Annotated[StrictFloat, Field(ge=-180, le=180)]
    criticality: Annotated[int, Field(ge=1, le=5, description="1 (low) to 5 (vital)"), WHOLE] = 3
    lifecycle: SiteLifecycle = SiteLifecycle.active
    timezone: Timezone = "UTC"
    contact: Annotated[str, Field(max_length=200)] | None = None
    tags: Annotated[
        list[Tag],
        Field(max_length=50, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_tags),
    ] = Field(default_factory=list)
    notes: Notes | None = None


class DeviceModelCreate(Strict):
    """A catalogue entry: what a kind of device is and until when it is supported."""

    slug: Slug
    manufacturer: Text
    model: Text
    kind: DeviceKind
    end_of_sale: date | None = None
    end_of_support: date | None = None
    recommended_firmware: Firmware | None = None
    minimum_firmware: Firmware | None = None
    snmp_oids: Annotated[dict[OidName, Oid], Field(max_length=50)] = Field(
        default_factory=dict, description="Extra SNMP values to read, by name: numeric OIDs"
    )
    ssh_platform: SshPlatform | None = Field(
        default=None, description="netmiko platform for the SSH probe"
    )
    http_path: HttpPath | None = Field(
        default=None, description="Path of the HTTP health endpoint (default /health)"
    )
    http_scheme: HttpScheme | None = Field(
        default=None, description="Scheme of the HTTP health endpoint: http or https (default)"
    )
    http_port: HttpPort | None = Field(
        default=None, description="Port of the HTTP health endpoint (default 443, 80 for http)"
    )
    http_expected_status: HttpStatus | None = Field(
        default=None, description="Status the health endpoint answers when well (default any 2xx)"
    )


class DeviceCreate(Strict):
    """One unit of equipment at a site."""

    serial: Serial = Field(description="Manufacturer serial number, unique across the fleet")
    site: SiteCode = Field(description="Code of the site the device is at")
    model: Slug = Field(description="Slug of the device model")
    asset_tag: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    hostname: Hostname | None = None
    management_address: IpAddress | None = None
    firmware_version: Firmware | None = None
    installed_on: date | None = None
    warranty_until: date | None = None
    lifecycle: DeviceLifecycle = DeviceLifecycle.planned
    parent_id: Id | None = Field(
        default=None, description="Device this one is reached through (same site)"
    )
    notes: Notes | None = None
    probes: Annotated[
        list[ProbeKind],
        Field(json_schema_extra={"uniqueItems": True}),
        AfterValidator(_unique_probes),
    ] = Field(default_factory=list, description="Health probes to run: snmp, ssh, http, tcp")
    snmp_profile: ProfileName | None = Field(default=None, description="Credential profile")
    ssh_profile: ProfileName | None = Field(default=None, description="Credential profile")
    http_profile: ProfileName | None = Field(default=None, description="Credential profile")
    probe_port: Annotated[int, Field(ge=1, le=65535), WHOLE] | None = Field(
        default=None, description="Port for the probes when not the protocol's own"
    )
    ssh_port: Annotated[int, Field(ge=1, le=65535), WHOLE] | None = Field(
        default=None, description="Port of the SSH probe, when not probe_port or 22"
    )
    probe_interval_s: Annotated[int, Field(ge=10, le=86_400), WHOLE] | None = Field(
        default=None, description="Seconds between probes (default: the service's)"
    )
    ssh_host_key: Annotated[str, Field(min_length=1, max_length=4000)] | None = Field(
        default=None, description="Pinned SSH host key; set on first contact, clear to re-pin"
    )
    http_scheme: HttpScheme | None = Field(
        default=None, description="Scheme of the HTTP probe when not the model's: http or https"
    )
    http_port: HttpPort | None = Field(
        default=None, description="Port of the HTTP probe, before probe_port and the model's"
    )
    http_path: HttpPath | None = Field(
        default=None, description="Path of the HTTP health endpoint when not the model's"
    )
    http_expected_status: HttpStatus | None = Field(
        default=None, description="Status the health endpoint answers when well, if not the model's"
    )


class LinkCreate(Strict):
    """A site's connectivity link."""

    circuit_id: Annotated[str, Field(min_length=1, max_length=80)] = Field(
        description="Provider circuit id, unique"
    )
    site: SiteCode
    medium: LinkMedium
    provider: Text
    bandwidth_kbps: Annotated[int, Field(ge=1, le=100_000_000), WHOLE] = Field(
        description="Committed bandwidth in kbit/s"
    )
    terminating_device_id: Id | None = Field(
        default=None, description="Device at the site that terminates the link"
    )
    far_end_site: SiteCode | None = Field(default=None, description="Hub site at the far end")
    encrypted: StrictBool = True
    role: LinkRole = LinkRole.primary
    lifecycle: LinkLifecycle = LinkLifecycle.active
    notes: Notes | None = None


def _partial(schema: type[Strict], name: str, without: tuple[str, ...]) -> type[Strict]:
    """The update schema: the create schema's fields, all optional, less the URL key."""
    fields: dict[str, Any] = {}
    for field_name, info in schema.model_fields.items():
        if field_name in without:
            continue
        optional = info._copy()  # keep constraints and description
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (info.annotation, optional)
    model: type[Strict] = create_model(name, __base__=Strict, **fields)
    model.__doc__ = f"Fields to change; absent fields stay as they are. {schema.__doc__ or ''}"
    return model


CountryUpdate = _partial(CountryCreate, "CountryUpdate", ("code",))
SiteUpdate = _partial(SiteCreate, "SiteUpdate", ("code",))
DeviceModelUpdate = _partial(DeviceModelCreate, "DeviceModelUpdate", ("slug",))
DeviceUpdate = _partial(DeviceCreate, "DeviceUpdate", ())
LinkUpdate = _partial(LinkCreate, "LinkUpdate", ())

SITE_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
