"""The five inventory resources, declared once: how each is selected with its references, how
it is shown, what its lists filter and sort by, which of its fields point at other objects, and
the rules that span objects. ``fleet.inventory.service`` runs every operation from these."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from fleet.attachments.models import Attachment
from fleet.errors import InvalidInput
from fleet.inventory import schemas
from fleet.inventory.choices import (
    DeviceKind,
    DeviceLifecycle,
    LinkLifecycle,
    LinkMedium,
    LinkRole,
    SiteKind,
    SiteLifecycle,
)
from fleet.inventory.declarations import Dependent, Ref, Resource
from fleet.inventory.models import Country, CredentialProfile, Device, DeviceModel, Link, Site
from fleet.pagination import AnySelect, Filter, ListSpec

# --- countries ---------------------------------------------------------------------------

COUNTRY = Resource(
    name="country",
    plural="countries",
    table=Country,
    key="code",
    natural_key="code",
    fields=("code", "name", "region"),
    create_schema=schemas.CountryCreate,
    update_schema=schemas.CountryUpdate,
    select=lambda: sa.select(Country),
    list_spec=ListSpec(
        filters={"region": Filter(col(Country.region), "Region, e.g. Sahel")},
        sorts={"code": col(Country.code), "name": col(Country.name), "region": col(Country.region)},
        default_sort="code",
        search=(col(Country.code), col(Country.name)),
        search_description="Text in the code or name",
        id_column=col(Country.id),
    ),
    country_column=col(Country.code),
    unique=("code",),
    dependents=(Dependent("sites", Site, "country_id"),),
    description="Countries of the network (ISO 3166-1 alpha-2).",
)

# --- sites -------------------------------------------------------------------------------


def _select_sites() -> AnySelect:
    return sa.select(Site, col(Country.code).label("country")).join(
        Country, col(Site.country_id) == col(Country.id)
    )


SITE = Resource(
    name="site",
    plural="sites",
    table=Site,
    key="code",
    natural_key="code",
    fields=(
        "code",
        "name",
        "kind",
        "country",
        "latitude",
        "longitude",
        "criticality",
        "lifecycle",
        "timezone",
        "contact",
        "tags",
        "notes",
    ),
    create_schema=schemas.SiteCreate,
    update_schema=schemas.SiteUpdate,
    select=_select_sites,
    list_spec=ListSpec(
        filters={
            "country": Filter(col(Country.code), "Country code(s), comma-separated"),
            "kind": Filter(col(Site.kind), "Site kind(s)", SiteKind),
            "lifecycle": Filter(col(Site.lifecycle), "Lifecycle(s)", SiteLifecycle),
            "criticality": Filter(col(Site.criticality), "Criticality 1-5", integer=True),
        },
        sorts={
            "code": col(Site.code),
            "name": col(Site.name),
            "kind": col(Site.kind),
            "criticality": col(Site.criticality),
            "updated_at": col(Site.updated_at),
        },
        default_sort="code",
        search=(col(Site.code), col(Site.name)),
        search_description="Text in the code or name",
        id_column=col(Site.id),
    ),
    country_column=col(Country.code),
    refs=(Ref("country", "country_id", Country, "code", "country"),),
    unique=("code",),
    dependents=(
        Dependent("devices", Device, "site_id"),
        Dependent("links", Link, "site_id"),
        Dependent("links that end at it", Link, "far_end_site_id"),
        Dependent("attachments (its own or its work orders')", Attachment, "site_id"),
    ),
    description="Sites: headquarters, bureaus and border crossing points.",
    embeds={"devices": ("device", "site"), "links": ("link", "site")},
)

# --- device models -----------------------------------------------------------------------


async def _model_kind_is_stable(session: AsyncSession, model: DeviceModel) -> None:
    """A model's kind is part of every device's representation: it may change only unused."""
    history = sa.inspect(model).attrs.kind.history
    if model.id is None or not history.deleted:
        return
    used = await session.scalar(
        sa.select(sa.func.count()).select_from(Device).where(col(Device.model_id) == model.id)
    )
    if used:
        raise InvalidInput(
            f"the kind of {model.slug} cannot change while {used} devices use it", field="kind"
        )


DEVICE_MODEL = Resource(
    name="device_model",
    plural="device-models",
    table=DeviceModel,
    key="slug",
    natural_key="slug",
    fields=(
        "slug",
        "manufacturer",
        "model",
        "kind",
        "end_of_sale",
        "end_of_support",
        "recommended_firmware",
        "minimum_firmware",
        "snmp_oids",
        "ssh_platform",
        "http_path",
        "http_scheme",
        "http_port",
        "http_expected_status",
    ),
    create_schema=schemas.DeviceModelCreate,
    update_schema=schemas.DeviceModelUpdate,
    select=lambda: sa.select(DeviceModel),
    list_spec=ListSpec(
        filters={
            "kind": Filter(col(DeviceModel.kind), "Device kind(s)", DeviceKind),
            "manufacturer": Filter(col(DeviceModel.manufacturer), "Manufacturer(s)"),
        },
        sorts={
            "slug": col(DeviceModel.slug),
            "manufacturer": col(DeviceModel.manufacturer),
            "model": col(DeviceModel.model),
            "kind": col(DeviceModel.kind),
        },
        default_sort="slug",
        search=(col(DeviceModel.slug), col(DeviceModel.manufacturer), col(DeviceModel.model)),
        search_description="Text in the slug, manufacturer or model",
        id_column=col(DeviceModel.id),
    ),
    unique=("slug",),
    dependents=(Dependent("devices", Device, "model_id"),),
    rules=(_model_kind_is_stable,),
    description="The device catalogue: manufacturer, model, kind, support dates, firmware.",
)

# --- devices -----------------------------------------------------------------------------

DeviceSite = aliased(Site, name="device_site")
DeviceCountry = aliased(Country, name="device_country")


SnmpProfile = aliased(CredentialProfile, name="snmp_profile")
SshProfile = aliased(CredentialProfile, name="ssh_profile")
HttpProfile = aliased(CredentialProfile, name="http_profile")


def _select_devices() -> AnySelect:
    return (
        sa.select(
            Device,
            col(DeviceSite.code).label("site"),
            col(DeviceCountry.code).label("country"),
            col(DeviceModel.slug).label("model"),
            col(DeviceModel.kind).label("kind"),
            col(SnmpProfile.name).label("snmp_profile"),
            col(SshProfile.name).label("ssh_profile"),
            col(HttpProfile.name).label("http_profile"),
        )
        .join(DeviceSite, col(Device.site_id) == col(DeviceSite.id))
        .join(DeviceCountry, col(DeviceSite.country_id) == col(DeviceCountry.id))
        .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
        .outerjoin(SnmpProfile, col(Device.snmp_profile_id) == col(SnmpProfile.id))
        .outerjoin(SshProfile, col(Device.ssh_profile_id) == col(SshProfile.id))
        .outerjoin(HttpProfile, col(Device.http_profile_id) == col(HttpProfile.id))
    )


async def _device_topology(session: AsyncSession, device: Device) -> None:
    """A parent is at the same site and no loop forms; children and terminated links follow
    a device only to its own site."""
    if device.parent_id is not None:
        if device.id is not None and device.parent_id == device.id:
            raise InvalidInput("a device cannot be its own parent", field="parent_id")
        parent = await session.get(Device, device.parent_id)
        assert parent is not None  # resolved before the rules run
        if parent.site_id != device.site_id:
            raise InvalidInput(
                f"parent device {parent.serial} is at another site", field="parent_id"
            )
        seen = {device.id}
        while parent is not None and parent.parent_id is not None:
            if parent.parent_id in seen or parent.parent_id == device.id:
                raise InvalidInput("parent_id would make a loop of parents", field="parent_id")
            seen.add(parent.id)
            parent = await session.get(Device, parent.parent_id)
    if device.id is None or not sa.inspect(device).attrs.site_id.history.deleted:
        return
    children = await session.scalar(
        sa.select(sa.func.count()).select_from(Device).where(col(Device.parent_id) == device.id)
    )
    links = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Link)
        .where(col(Link.terminating_device_id) == device.id)
    )
    if children or links:
        raise InvalidInput(
            f"device {device.serial} cannot move: {children} devices are reached through it and "
            f"{links} links end on it at its current site",
            field="site",
        )


DEVICE = Resource(
    name="device",
    plural="devices",
    table=Device,
    key="id",
    natural_key="serial",
    fields=(
        "serial",
        "site",
        "country",
        "model",
        "kind",
        "asset_tag",
        "hostname",
        "management_address",
        "firmware_version",
        "installed_on",
        "warranty_until",
        "lifecycle",
        "parent_id",
        "notes",
        "probes",
        "snmp_profile",
        "ssh_profile",
        "http_profile",
        "probe_port",
        "ssh_port",
        "probe_interval_s",
        "ssh_host_key",
        "http_scheme",
        "http_port",
        "http_path",
        "http_expected_status",
    ),
    create_schema=schemas.DeviceCreate,
    update_schema=schemas.DeviceUpdate,
    select=_select_devices,
    list_spec=ListSpec(
        filters={
            "country": Filter(col(DeviceCountry.code), "Country code(s)"),
            "site": Filter(col(DeviceSite.code), "Site code(s)"),
            "kind": Filter(col(DeviceModel.kind), "Device kind(s)", DeviceKind),
            "model": Filter(col(DeviceModel.slug), "Device model slug(s)"),
            "lifecycle": Filter(col(Device.lifecycle), "Lifecycle(s)", DeviceLifecycle),
            "serial": Filter(col(Device.serial), "Serial number(s)"),
            "parent_id": Filter(col(Device.parent_id), "Parent device id(s)", integer=True),
        },
        sorts={
            "id": col(Device.id),
            "serial": col(Device.serial),
            "lifecycle": col(Device.lifecycle),
            "updated_at": col(Device.updated_at),
            "site": col(DeviceSite.code),
        },
        default_sort="id",
        search=(
            col(Device.serial),
            col(Device.hostname),
            col(Device.asset_tag),
            col(Device.management_address),
        ),
        search_description="Text in the serial, hostname, asset tag or management address",
        id_column=col(Device.id),
    ),
    country_column=col(DeviceCountry.code),
    refs=(
        Ref("site", "site_id", Site, "code", "site"),
        Ref("model", "model_id", DeviceModel, "slug", "device model"),
        Ref("parent_id", "parent_id", Device, "id", "device"),
        Ref("snmp_profile", "snmp_profile_id", CredentialProfile, "name", "credential profile"),
        Ref("ssh_profile", "ssh_profile_id", CredentialProfile, "name", "credential profile"),
        Ref("http_profile", "http_profile_id", CredentialProfile, "name", "credential profile"),
    ),
    unique=("serial", "asset_tag"),
    dependents=(
        Dependent("devices reached through it", Device, "parent_id"),
        Dependent("links ending on it", Link, "terminating_device_id"),
        Dependent("attachments", Attachment, "device_id"),
    ),
    rules=(_device_topology,),
    description="Devices: every unit of equipment, where it is and what runs on it.",
)

# --- links -------------------------------------------------------------------------------

LinkSite = aliased(Site, name="link_site")
LinkCountry = aliased(Country, name="link_country")
FarEnd = aliased(Site, name="far_end")


def _select_links() -> AnySelect:
    return (
        sa.select(
            Link,
            col(LinkSite.code).label("site"),
            col(LinkCountry.code).label("country"),
            col(FarEnd.code).label("far_end_site"),
        )
        .join(LinkSite, col(Link.site_id) == col(LinkSite.id))
        .join(LinkCountry, col(LinkSite.country_id) == col(LinkCountry.id))
        .outerjoin(FarEnd, col(Link.far_end_site_id) == col(FarEnd.id))
    )


async def _link_topology(session: AsyncSession, link: Link) -> None:
    if link.terminating_device_id is not None:
        device = await session.get(Device, link.terminating_device_id)
        assert device is not None
        if device.site_id != link.site_id:
            raise InvalidInput(
                f"terminating device {device.serial} is at another site",
                field="terminating_device_id",
            )
    if link.far_end_site_id is not None and link.far_end_site_id == link.site_id:
        raise InvalidInput("a link's far end is another site", field="far_end_site")


LINK = Resource(
    name="link",
    plural="links",
    table=Link,
    key="id",
    natural_key="circuit_id",
    fields=(
        "circuit_id",
        "site",
        "country",
        "medium",
        "provider",
        "bandwidth_kbps",
        "terminating_device_id",
        "far_end_site",
        "encrypted",
        "role",
        "lifecycle",
        "notes",
    ),
    create_schema=schemas.LinkCreate,
    update_schema=schemas.LinkUpdate,
    select=_select_links,
    list_spec=ListSpec(
        filters={
            "country": Filter(col(LinkCountry.code), "Country code(s)"),
            "site": Filter(col(LinkSite.code), "Site code(s)"),
            "medium": Filter(col(Link.medium), "Medium(s)", LinkMedium),
            "role": Filter(col(Link.role), "Role(s)", LinkRole),
            "lifecycle": Filter(col(Link.lifecycle), "Lifecycle(s)", LinkLifecycle),
            "far_end_site": Filter(col(FarEnd.code), "Hub site code(s)"),
        },
        sorts={
            "id": col(Link.id),
            "circuit_id": col(Link.circuit_id),
            "bandwidth_kbps": col(Link.bandwidth_kbps),
            "site": col(LinkSite.code),
            "updated_at": col(Link.updated_at),
        },
        default_sort="id",
        search=(col(Link.circuit_id), col(Link.provider)),
        search_description="Text in the circuit id or provider",
        id_column=col(Link.id),
    ),
    country_column=col(LinkCountry.code),
    refs=(
        Ref("site", "site_id", Site, "code", "site"),
        Ref("terminating_device_id", "terminating_device_id", Device, "id", "device"),
        Ref("far_end_site", "far_end_site_id", Site, "code", "site"),
    ),
    unique=("circuit_id",),
    rules=(_link_topology,),
    description="Connectivity links: how each site reaches the network.",
)

RESOURCES: tuple[Resource, ...] = (COUNTRY, SITE, DEVICE_MODEL, DEVICE, LINK)
BY_NAME = {r.name: r for r in RESOURCES}
