"""Credential profiles: how devices are logged into. The secret part is encrypted at rest with
Fernet (MultiFernet over the keys in settings, newest first) and never leaves this module in
clear except as the probe targets that need it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import Field, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog
from fleet.changelog import ChangeAction
from fleet.errors import Conflict, InvalidInput, NotFound
from fleet.inventory.models import CredentialProfile, Device
from fleet.inventory.schemas import Strict
from fleet.models import utcnow

CredentialKind = Literal["snmp_v2c", "snmp_v3", "ssh", "http"]
AuthProtocol = Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"]
PrivProtocol = Literal["AES", "AES192", "AES256", "DES"]
Key = Annotated[SecretStr, Field(min_length=8, max_length=200)]
# Refused by policy unless the profile carries a waiver: MD5, DES, and SNMPv3 without
# authentication or privacy. (3DES is not offered: the SNMP drivers do not speak it.)
LEGACY_AUTH = frozenset({"MD5"})
LEGACY_PRIV = frozenset({"DES"})
WaiverReason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="Why this profile may use SNMPv3 protocols the policy refuses (noAuth, "
        "authNoPriv, MD5, DES); every change of it is in the change log",
    ),
]


class NoKey(Exception):
    """Credentials are stored but no key to read them was given."""


class Cipher:
    """Encrypts and decrypts secrets with the configured keys (the first one encrypts)."""

    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts]) if parts else None
        except ValueError:
            raise ValueError("FLEET_CREDENTIAL_KEYS holds a key that is not a Fernet key") from None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def _need(self) -> MultiFernet:
        if self._fernet is None:
            raise NoKey("no FLEET_CREDENTIAL_KEYS set: credential secrets cannot be read or stored")
        return self._fernet

    def encrypt(self, secret: dict[str, str]) -> bytes:
        return self._need().encrypt(json.dumps(secret, sort_keys=True).encode())

    def decrypt(self, blob: bytes) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._need().decrypt(blob))
        except InvalidToken:
            raise NoKey("no configured key opens this credential secret") from None
        return data

    def encrypt_document(self, document: Any) -> bytes:
        """Any JSON document, encrypted (an edge poller's targets at rest)."""
        return self._need().encrypt(json.dumps(document, sort_keys=True).encode())

    def decrypt_document(self, blob: bytes) -> Any:
        try:
            return json.loads(self._need().decrypt(blob))
        except InvalidToken:
            raise NoKey("no configured key opens this document") from None

    def rotate(self, blob: bytes) -> bytes:
        return self._need().rotate(blob)


def new_key() -> str:
    return Fernet.generate_key().decode()


class CredentialSecret(Strict):
    """The secret part of a profile; write-only."""

    community: Annotated[SecretStr, Field(min_length=1, max_length=200)] | None = None
    auth_key: Key | None = None
    priv_key: Key | None = None
    password: Annotated[SecretStr, Field(min_length=1, max_length=200)] | None = None
    private_key: Annotated[SecretStr, Field(min_length=1, max_length=20_000)] | None = None
    token: Annotated[SecretStr, Field(min_length=1, max_length=2_000)] | None = None

    def plain(self) -> dict[str, str]:
        return {
            name: value.get_secret_value() for name, value in self if isinstance(value, SecretStr)
        }


class CredentialProfileCreate(Strict):
    """A credential profile. Secrets are accepted here and never shown again."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$")]
    kind: CredentialKind
    username: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    auth_protocol: AuthProtocol | None = None
    priv_protocol: PrivProtocol | None = None
    verify_tls: bool = True
    legacy_waiver_reason: WaiverReason | None = None
    secret: CredentialSecret


class CredentialProfileUpdate(Strict):
    """Fields to change; a new ``secret`` replaces the old one whole."""

    username: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    auth_protocol: AuthProtocol | None = None
    priv_protocol: PrivProtocol | None = None
    verify_tls: bool | None = None
    legacy_waiver_reason: WaiverReason | None = None
    secret: CredentialSecret | None = None


def legacy_protocols(kind: str, auth_protocol: str | None, priv_protocol: str | None) -> list[str]:
    """What of an SNMPv3 profile the policy refuses without a waiver, e.g. ``["MD5", "DES"]``."""
    if kind != "snmp_v3":
        return []
    found = [p for p in (auth_protocol, priv_protocol) if p in LEGACY_AUTH | LEGACY_PRIV]
    if auth_protocol is None:
        found.append("noAuth")
    elif priv_protocol is None:
        found.append("noPriv")
    return found


def is_waived(profile: CredentialProfile) -> bool:
    """Whether a profile's legacy protocols are allowed: it names none, or it has a waiver."""
    return bool(profile.legacy_waiver_reason) or not legacy_protocols(
        profile.kind, profile.auth_protocol, profile.priv_protocol
    )


def check_policy(
    kind: str, auth_protocol: str | None, priv_protocol: str | None, waiver: str | None
) -> None:
    """Refuse the SNMPv3 protocols of the policy (noAuth, noPriv, MD5, DES) unless waived."""
    if waiver:
        if kind == "snmp_v3" and auth_protocol is None and priv_protocol is not None:
            raise InvalidInput("SNMPv3 privacy needs authentication", field="auth_protocol")
        return
    if kind != "snmp_v3":
        return
    refused = legacy_protocols(kind, auth_protocol, priv_protocol)
    if not refused:
        return
    field = "priv_protocol" if refused[0] in LEGACY_PRIV | {"noPriv"} else "auth_protocol"
    if auth_protocol is None:
        message = "SNMPv3 here is authPriv: name SHA-1 or SHA-2"
    elif priv_protocol is None:
        message = "SNMPv3 here is authPriv: name AES"
    else:
        message = f"{refused[0]} is refused by policy"
    raise InvalidInput(
        f"{message} (or give legacy_waiver_reason to allow {', '.join(refused)})", field=field
    )


def check_complete(
    kind: str,
    username: str | None,
    auth_protocol: str | None,
    priv_protocol: str | None,
    secret: CredentialSecret | dict[str, str],
) -> None:
    """Refuse a profile that could not log in: the fields its kind needs, named when missing."""
    present = set(secret.plain() if isinstance(secret, CredentialSecret) else secret)

    def need(condition: bool, field: str, message: str) -> None:
        if not condition:
            raise InvalidInput(message, field=field)

    if kind == "snmp_v2c":
        need("community" in present, "secret.community", "an SNMP v2c profile needs a community")
    elif kind == "snmp_v3":
        need(username is not None, "username", "an SNMPv3 profile needs a user")
        if auth_protocol is not None:
            need("auth_key" in present, "secret", "SNMPv3 authentication needs auth_key")
        if priv_protocol is not None:
            need("priv_key" in present, "secret", "SNMPv3 privacy needs priv_key")
    elif kind == "ssh":
        need(username is not None, "username", "an SSH profile needs a user")
        need(bool({"password", "private_key"} & present), "secret", "SSH needs a password or a key")


#: A profile's columns as the API shows them (and ``has_secret``): never the secret.
FIELDS = (
    "id",
    "name",
    "kind",
    "username",
    "auth_protocol",
    "priv_protocol",
    "verify_tls",
    "legacy_waiver_reason",
    "version",
    "created_at",
    "updated_at",
)


def public(profile: CredentialProfile) -> dict[str, Any]:
    """What the API shows of a profile: never the secret."""
    return {name: getattr(profile, name) for name in FIELDS} | {
        "has_secret": profile.secret is not None
    }


def _secret(before: dict[str, Any] | None) -> dict[str, Any]:
    """The change-log entry of a set or replaced secret (never its value)."""
    return {"secret": {"before": "(hidden)", "after": "(replaced)" if before else "(set)"}}


async def get(session: AsyncSession, name: str) -> CredentialProfile:
    profile = await session.scalar(
        sa.select(CredentialProfile).where(col(CredentialProfile.name) == name)
    )
    if profile is None:
        raise NotFound(f"no credential profile {name}")
    return profile


async def create(
    session: AsyncSession, cipher: Cipher, data: CredentialProfileCreate
) -> CredentialProfile:
    if await session.scalar(
        sa.select(col(CredentialProfile.id)).where(col(CredentialProfile.name) == data.name)
    ):
        raise Conflict(f"a credential profile named {data.name!r} already exists", field="name")
    check_policy(data.kind, data.auth_protocol, data.priv_protocol, data.legacy_waiver_reason)
    check_complete(data.kind, data.username, data.auth_protocol, data.priv_protocol, data.secret)
    if not cipher.ready:
        raise InvalidInput(
            "credential secrets need FLEET_CREDENTIAL_KEYS on the server", field="secret"
        )
    profile = CredentialProfile(
        name=data.name,
        kind=data.kind,
        username=data.username,
        auth_protocol=data.auth_protocol,
        priv_protocol=data.priv_protocol,
        verify_tls=data.verify_tls,
        legacy_waiver_reason=data.legacy_waiver_reason,
        secret=cipher.encrypt(data.secret.plain()),
    )
    session.add(profile)
    await session.flush()
    changelog.log(session, ChangeAction.create, profile, None, public(profile), extra=_secret(None))
    return profile


def _check_waiver(profile: CredentialProfile, cleared: bool) -> None:
    """The changed profile keeps to the policy; a waiver its protocols need stays."""
    refused = legacy_protocols(profile.kind, profile.auth_protocol, profile.priv_protocol)
    if cleared and refused and not profile.legacy_waiver_reason:
        raise InvalidInput(
            f"the waiver cannot be cleared while the profile uses {', '.join(refused)}",
            field="legacy_waiver_reason",
        )
    check_policy(
        profile.kind, profile.auth_protocol, profile.priv_protocol, profile.legacy_waiver_reason
    )


async def update(
    session: AsyncSession, cipher: Cipher, profile: CredentialProfile, data: CredentialProfileUpdate
) -> CredentialProfile:
    before = public(profile)
    values = data.model_dump(exclude_unset=True, exclude={"secret"})
    for name, value in values.items():
        if value is None and name == "verify_tls":
            raise InvalidInput("verify_tls is true or false", field="verify_tls")
        setattr(profile, name, value)
    _check_waiver(profile, cleared="legacy_waiver_reason" in values)
    secret_changed = data.secret is not None
    secret = data.secret.plain() if data.secret is not None else None
    if secret is not None and not cipher.ready:
        raise InvalidInput(
            "credential secrets need FLEET_CREDENTIAL_KEYS on the server", field="secret"
        )
    current = (
        secret
        if secret is not None
        else (
            cipher.decrypt(profile.secret) if profile.secret is not None and cipher.ready else None
        )
    )
    if current is not None:
        check_complete(
            profile.kind, profile.username, profile.auth_protocol, profile.priv_protocol, current
        )
    if secret is not None:
        profile.secret = cipher.encrypt(secret)
    after = public(profile)
    if changelog.diff(before, after) or secret_changed:
        profile.version += 1
        profile.updated_at = utcnow()
        await session.flush()
        changelog.log(
            session,
            ChangeAction.update,
            profile,
            before,
            public(profile),
            extra=_secret(before) if secret_changed else None,
        )
    return profile


async def delete(session: AsyncSession, profile: CredentialProfile) -> None:
    used = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Device)
        .where(
            sa.or_(
                col(Device.snmp_profile_id) == profile.id,
                col(Device.ssh_profile_id) == profile.id,
                col(Device.http_profile_id) == profile.id,
            )
        )
    )
    if used:
        raise Conflict(f"credential profile {profile.name} is still used by {used} devices")
    changelog.log(session, ChangeAction.delete, profile, public(profile), None)
    await session.delete(profile)
    await session.flush()


async def stored_secrets(session: AsyncSession) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(CredentialProfile)
        .where(col(CredentialProfile.secret).is_not(None))
    )
    return int(count or 0)


async def rotate_all(session: AsyncSession, cipher: Cipher) -> int:
    """Re-encrypt every stored secret with the newest key; the caller commits."""
    profiles = (
        await session.scalars(
            sa.select(CredentialProfile).where(col(CredentialProfile.secret).is_not(None))
        )
    ).all()
    for profile in profiles:
        assert profile.secret is not None
        profile.secret = cipher.rotate(profile.secret)
    await session.flush()
    return len(profiles)


async def waived_devices(
    session: AsyncSession, site_id: int | None = None
) -> dict[int, dict[str, Any]]:
    """Devices probed with an SNMP profile under a legacy waiver (of one site, or all):
    device id -> ``{"site_id", "profile", "reason"}``."""
    statement = (
        sa.select(
            col(Device.id),
            col(Device.site_id),
            col(CredentialProfile.name),
            col(CredentialProfile.legacy_waiver_reason),
        )
        .join(CredentialProfile, col(Device.snmp_profile_id) == col(CredentialProfile.id))
        .where(col(CredentialProfile.legacy_waiver_reason).is_not(None))
    )
    if site_id is not None:
        statement = statement.where(col(Device.site_id) == site_id)
    return {
        device_id: {"site_id": site, "profile": name, "reason": reason}
        for device_id, site, name, reason in await session.execute(statement)
        if device_id is not None
    }
