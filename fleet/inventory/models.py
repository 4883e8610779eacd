"""Inventory tables: countries, sites, the device catalogue, devices and links.

Enumerated values are stored as short strings; the API schemas restrict them to the enums in
``fleet.inventory.choices``.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field

from fleet.changelog import Logged
from fleet.inventory.choices import DeviceLifecycle, LinkLifecycle, LinkRole, SiteLifecycle
from fleet.models import Versioned


class Country(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("country", key="code")

    code: str = Field(max_length=2, unique=True, nullable=False)
    name: str = Field(max_length=100, nullable=False)
    region: str = Field(max_length=100, nullable=False, index=True)


class Site(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("site", key="code")

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=200, nullable=False)
    kind: str = Field(max_length=32, nullable=False, index=True)
    country_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("country.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    latitude: float = Field(nullable=False)
    longitude: float = Field(nullable=False)
    criticality: int = Field(default=3, nullable=False)
    lifecycle: str = Field(default=SiteLifecycle.active, max_length=16, nullable=False, index=True)
    timezone: str = Field(default="UTC", max_length=64, nullable=False)
    contact: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    notes: str | None = Field(default=None, sa_type=sa.Text)


class DeviceModel(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("device_model", key="slug")

    __tablename__ = "device_model"
    __table_args__ = (sa.UniqueConstraint("manufacturer", "model"),)

    slug: str = Field(max_length=80, unique=True, nullable=False)
    manufacturer: str = Field(max_length=100, nullable=False)
    model: str = Field(max_length=100, nullable=False)
    kind: str = Field(max_length=32, nullable=False, index=True)
    end_of_sale: date | None = Field(default=None)
    end_of_support: date | None = Field(default=None)
    recommended_firmware: str | None = Field(default=None, max_length=64)
    minimum_firmware: str | None = Field(default=None, max_length=64)
    # How the model is probed (vendor quirks as data): extra SNMP OIDs by name, the netmiko
    # platform for SSH, the scheme, port, path and expected status of the HTTP health endpoint.
    snmp_oids: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    ssh_platform: str | None = Field(default=None, max_length=40)
    http_path: str | None = Field(default=None, max_length=200)
    http_scheme: str | None = Field(default=None, max_length=8)
    http_port: int | None = Field(default=None)
    http_expected_status: int | None = Field(default=None)


class Device(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("device", key="serial")

    site_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    model_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("device_model.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    serial: str = Field(max_length=80, unique=True, nullable=False)
    asset_tag: str | None = Field(default=None, max_length=80, unique=True)
    hostname: str | None = Field(default=None, max_length=253)
    management_address: str | None = Field(default=None, max_length=64)
    firmware_version: str | None = Field(default=None, max_length=64)
    installed_on: date | None = Field(default=None)
    warranty_until: date | None = Field(default=None)
    lifecycle: str = Field(
        default=DeviceLifecycle.planned, max_length=16, nullable=False, index=True
    )
    parent_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("device.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    notes: str | None = Field(default=None, sa_type=sa.Text)
    # Which probes run against the device, with which credential profiles.
    probes: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    snmp_profile_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("credential_profile.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    ssh_profile_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("credential_profile.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    http_profile_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("credential_profile.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    probe_port: int | None = Field(default=None)
    ssh_port: int | None = Field(default=None)
    probe_interval_s: int | None = Field(default=None)
    ssh_host_key: str | None = Field(default=None, sa_type=sa.Text)
    # The HTTP health endpoint where it differs from the model's (None: the model's).
    http_scheme: str | None = Field(default=None, max_length=8)
    http_port: int | None = Field(default=None)
    http_path: str | None = Field(default=None, max_length=200)
    http_expected_status: int | None = Field(default=None)


class CredentialProfile(Versioned, table=True):
    """How to log into devices. The secret part (community, keys, passwords) is one encrypted
    blob; it is never returned by the API nor logged."""

    __changelog__: ClassVar[Logged] = Logged("credential_profile")

    __tablename__ = "credential_profile"

    name: str = Field(max_length=80, unique=True, nullable=False)
    kind: str = Field(max_length=16, nullable=False)  # snmp_v2c, snmp_v3, ssh, http
    username: str | None = Field(default=None, max_length=80)
    auth_protocol: str | None = Field(default=None, max_length=16)
    priv_protocol: str | None = Field(default=None, max_length=16)
    verify_tls: bool = Field(default=True, nullable=False)
    # Why this profile may use SNMPv3 protocols the policy refuses (noAuth, MD5, DES).
    legacy_waiver_reason: str | None = Field(default=None, max_length=500)
    secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class Link(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("link", key="circuit_id")

    site_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    circuit_id: str = Field(max_length=80, unique=True, nullable=False)
    medium: str = Field(max_length=16, nullable=False, index=True)
    provider: str = Field(max_length=100, nullable=False)
    bandwidth_kbps: int = Field(nullable=False)
    terminating_device_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("device.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    far_end_site_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    encrypted: bool = Field(default=True, nullable=False)
    role: str = Field(default=LinkRole.primary, max_length=16, nullable=False)
    lifecycle: str = Field(default=LinkLifecycle.active, max_length=16, nullable=False, index=True)
    notes: str | None = Field(default=None, sa_type=sa.Text)
