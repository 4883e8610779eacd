"""What the scheduler probes: every device with probes and a probe-able lifecycle, as
``ProbeTarget``s carrying the decrypted credentials they need (in memory only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.database import Database
from fleet.inventory.choices import DeviceLifecycle
from fleet.inventory.credentials import Cipher, is_waived
from fleet.inventory.models import CredentialProfile, Device, DeviceModel, Link, Site
from fleet.probes.models import MaintenanceWindow
from fleet.probes.types import (
    HttpCredentials,
    HttpOptions,
    ProbeTarget,
    SnmpOptions,
    SnmpV2c,
    SnmpV3,
    SshCredentials,
    SshOptions,
)

PROBED_LIFECYCLES = DeviceLifecycle.probed()


@dataclass(frozen=True)
class DeviceProbes:
    """One device's probes: which kinds, how often, against which target."""

    device_id: int
    site_id: int
    serial: str
    kinds: tuple[str, ...]
    interval_s: int | None
    target: ProbeTarget
    problems: tuple[str, ...] = field(default=())  # why some kinds cannot run (no profile...)

    def fingerprint(self) -> tuple[Any, ...]:
        return (
            self.kinds,
            self.interval_s,
            repr(self.target),
            self.target.ssh.host_key if self.target.ssh else None,
        )


def _snmp(
    profile: CredentialProfile | None, secret: dict[str, str], oids: dict[str, str]
) -> SnmpOptions | None:
    if profile is None:
        return None
    if profile.kind == "snmp_v2c":
        return SnmpOptions(SnmpV2c(secret.get("community", "")), extra_oids=dict(oids))
    if profile.kind == "snmp_v3":
        return SnmpOptions(
            SnmpV3(
                user=profile.username or "",
                auth_protocol=profile.auth_protocol,  # type: ignore[arg-type]
                auth_key=secret.get("auth_key"),
                priv_protocol=profile.priv_protocol,  # type: ignore[arg-type]
                priv_key=secret.get("priv_key"),
            ),
            extra_oids=dict(oids),
        )
    return None


class _Secrets:
    """Credential profiles by id, each secret decrypted once (and only when a probe needs it)."""

    def __init__(self, profiles: dict[int | None, CredentialProfile], cipher: Cipher) -> None:
        self.profiles, self.cipher = profiles, cipher
        self._plain: dict[int, dict[str, str]] = {}

    def profile(self, profile_id: int | None) -> CredentialProfile | None:
        return self.profiles.get(profile_id) if profile_id else None

    def of(self, profile: CredentialProfile | None) -> dict[str, str]:
        if profile is None or profile.secret is None or not self.cipher.ready:
            return {}
        assert profile.id is not None
        if profile.id not in self._plain:
            self._plain[profile.id] = self.cipher.decrypt(profile.secret)
        return self._plain[profile.id]


async def load(
    session: AsyncSession, cipher: Cipher, device_ids: list[int] | None = None
) -> list[DeviceProbes]:
    """Every probe-able device (or those of ``device_ids``) with its target."""
    statement = (
        sa.select(Device, DeviceModel)
        .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
        .where(col(Device.lifecycle).in_(PROBED_LIFECYCLES))
        .where(col(Device.management_address).is_not(None))
    )
    if device_ids is not None:
        statement = statement.where(col(Device.id).in_(device_ids))
    rows = (await session.execute(statement)).all()
    profiles = {p.id: p for p in (await session.scalars(sa.select(CredentialProfile))).all()}
    secrets = _Secrets(profiles, cipher)
    return [_probes_of(device, model, secrets) for device, model in rows if device.probes]


def _probes_of(device: Device, model: DeviceModel, secrets: _Secrets) -> DeviceProbes:
    """One device's target, and why a probe it names cannot run."""
    problems: list[str] = []
    snmp = None
    if "snmp" in device.probes:
        profile = secrets.profile(device.snmp_profile_id)
        if profile is not None and not is_waived(profile):
            problems.append(f"snmp: profile {profile.name} uses legacy protocols without a waiver")
        else:
            snmp = _snmp(profile, secrets.of(profile), model.snmp_oids)
            if snmp is None:
                problems.append("snmp: no SNMP credential profile")
    ssh = None
    if "ssh" in device.probes:
        ssh = _ssh(device, model, secrets)
        if ssh is None:
            problems.append("ssh: needs an SSH credential profile and the model's ssh_platform")
    http = _http(device, model, secrets) if "http" in device.probes else None
    kinds = tuple(
        k
        for k in device.probes
        if (k != "snmp" or snmp is not None) and (k != "ssh" or ssh is not None)
    )
    assert device.id is not None
    return DeviceProbes(
        device_id=device.id,
        site_id=device.site_id,
        serial=device.serial,
        kinds=kinds,
        interval_s=device.probe_interval_s,
        target=ProbeTarget(
            device_id=device.id,
            address=device.management_address or "",
            port=device.probe_port,
            ports=_ports(device, model),
            snmp=snmp,
            ssh=ssh,
            http=http,
        ),
        problems=tuple(problems),
    )


def _ssh(device: Device, model: DeviceModel, secrets: _Secrets) -> SshOptions | None:
    profile = secrets.profile(device.ssh_profile_id)
    if profile is None or not model.ssh_platform:
        return None
    secret = secrets.of(profile)
    return SshOptions(
        platform=model.ssh_platform,
        credentials=SshCredentials(
            profile.username or "", secret.get("password"), secret.get("private_key")
        ),
        host_key=device.ssh_host_key,
    )


def _ports(device: Device, model: DeviceModel) -> dict[str, int]:
    """Ports by kind ahead of ``probe_port``: the device's SSH port; for HTTP the device's port,
    else (without a ``probe_port``) the model's."""
    ports: dict[str, int] = {}
    if device.ssh_port:
        ports["ssh"] = device.ssh_port
    http_port = device.http_port or (None if device.probe_port else model.http_port)
    if http_port:
        ports["http"] = http_port
    return ports


def _http(device: Device, model: DeviceModel, secrets: _Secrets) -> HttpOptions:
    """The HTTP options: each of scheme, path and expected status from the device, else the
    model, else the default (https, /health, any 2xx)."""
    profile = secrets.profile(device.http_profile_id)
    secret = secrets.of(profile)
    scheme = device.http_scheme or model.http_scheme or "https"
    return HttpOptions(
        path=device.http_path or model.http_path or "/health",
        scheme="http" if scheme == "http" else "https",
        expected_status=device.http_expected_status or model.http_expected_status,
        verify_tls=profile.verify_tls if profile else True,
        credentials=HttpCredentials(
            bearer_token=secret.get("token"),
            username=profile.username if profile else None,
            password=secret.get("password"),
        )
        if secret
        else None,
    )


async def inventory_fingerprint(db: Database) -> tuple[Any, ...]:
    """Changes whenever anything the schedules or the topology depend on changes."""
    parts = []
    async with db.session() as session:
        for table in (Device, DeviceModel, CredentialProfile, Link, Site, MaintenanceWindow):
            row = (
                await session.execute(sa.select(sa.func.count(), sa.func.max(table.updated_at)))
            ).one()
            parts.append(tuple(row))
    return tuple(parts)
