"""API tokens: made with a secret shown once, stored as its SHA-256, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog
from fleet.access.models import ApiToken
from fleet.access.roles import Role
from fleet.changelog import ChangeAction
from fleet.database import Database, is_busy
from fleet.errors import Conflict, InvalidInput
from fleet.inventory.models import Site
from fleet.models import utcnow

TOKEN_PREFIX = "fleet_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token's id, name, role and country scope (None: all), and the
    sites an edge token serves."""

    token_id: int
    name: str
    role: Role
    countries: frozenset[str] | None
    rate_limit_per_minute: int | None
    sites: frozenset[str] = frozenset()

    @property
    def scope(self) -> frozenset[str] | None:
        return self.countries


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


#: A token's columns as the API shows them: never the secret nor its hash.
FIELDS = (
    "id",
    "name",
    "role",
    "countries",
    "sites",
    "prefix",
    "expires_at",
    "enabled",
    "last_used_at",
    "rate_limit_per_minute",
    "version",
    "created_at",
    "updated_at",
)


def public(token: ApiToken) -> dict[str, Any]:
    """A token as the API shows it: never the secret nor its hash."""
    return {name: getattr(token, name) for name in FIELDS}


async def create(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    countries: list[str] | None = None,
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    sites: list[str] | None = None,
) -> tuple[ApiToken, str]:
    """Make a token; returns it and its secret (to show once). The caller commits. An edge
    token names the site codes it serves; no other token names sites."""
    if (role is Role.edge) != bool(sites):
        raise InvalidInput("an edge token, and only one, names its sites", field="sites")
    if sites:
        found = sa.select(col(Site.code)).where(col(Site.code).in_(sites))
        known = set(await session.scalars(found))
        if unknown := sorted(set(sites) - known):
            raise InvalidInput(f"no site {unknown[0]}", field="sites")
    if await session.scalar(sa.select(col(ApiToken.id)).where(col(ApiToken.name) == name)):
        raise Conflict(f"a token named {name!r} already exists", field="name")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at is in the past", field="expires_at")
    secret = new_secret()
    token = ApiToken(
        name=name,
        role=role.value,
        countries=sorted(set(countries)) if countries else None,
        sites=sorted(set(sites)) if sites else None,
        secret_hash=hash_secret(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(token)
    await session.flush()
    changelog.log(session, ChangeAction.create, token, None, public(token))
    return token, secret


async def update(session: AsyncSession, token: ApiToken, values: dict[str, Any]) -> ApiToken:
    before = public(token)
    for name, value in values.items():
        setattr(token, name, value.value if isinstance(value, Role) else value)
    if (token.role == Role.edge) != bool(token.sites):
        raise InvalidInput("an edge token, and only one, names its sites", field="role")
    after = public(token)
    if changelog.diff(before, after):
        token.version += 1
        token.updated_at = utcnow()
        await session.flush()
        changelog.log(session, ChangeAction.update, token, before, public(token))
    return token


async def delete(session: AsyncSession, token: ApiToken) -> None:
    changelog.log(session, ChangeAction.delete, token, public(token), None)
    await session.delete(token)
    await session.flush()


async def touch(db: Database, token_id: int, when: datetime) -> bool:
    """Set a token's last use (outside the change log: it is not a change of the token).
    Bookkeeping, not the request's work: when another write holds SQLite's lock past the busy
    timeout, nothing is recorded (False) rather than the request failing."""
    try:
        async with db.session(write=True) as session:
            await session.execute(
                sa.update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=when)
            )
            await session.commit()
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        return False
    return True


class Refused(Exception):
    """A token that cannot be used; the reason is for the audit log, not for the client."""


async def authenticate(session: AsyncSession, secret: str) -> ApiToken:
    token = await session.scalar(
        sa.select(ApiToken).where(col(ApiToken.secret_hash) == hash_secret(secret))
    )
    if token is None:
        raise Refused("unknown token")
    if not token.enabled:
        raise Refused("token disabled")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Refused("token expired")
    return token


def principal(token: ApiToken) -> Principal:
    assert token.id is not None
    return Principal(
        token_id=token.id,
        name=token.name,
        role=Role(token.role),
        countries=frozenset(token.countries) if token.countries else None,
        rate_limit_per_minute=token.rate_limit_per_minute,
        sites=frozenset(token.sites or ()),
    )
