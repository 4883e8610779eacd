"""Tables of access control: tokens (stored as hashes), audit events and idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from fleet.changelog import Logged
from fleet.models import UTCDateTime, Versioned, utcnow


class ApiToken(Versioned, table=True):
    """An API token. Only the SHA-256 of the secret is kept; the secret is shown once."""

    __changelog__: ClassVar[Logged] = Logged("api_token", ignore=("last_used_at",))

    __tablename__ = "api_token"

    name: str = Field(max_length=80, unique=True, nullable=False)
    role: str = Field(max_length=20, nullable=False)
    countries: list[str] | None = Field(default=None, sa_type=sa.JSON)
    # the site codes an edge token serves (its poller probes them; see fleet.probes.edge)
    sites: list[str] | None = Field(default=None, sa_type=sa.JSON)
    secret_hash: str = Field(max_length=64, unique=True, nullable=False)
    prefix: str = Field(max_length=16, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enabled: bool = Field(default=True, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rate_limit_per_minute: int | None = Field(default=None)


class AuditEvent(SQLModel, table=True):
    """A security-relevant event that is not a change: a refused authentication, a read of a
    credential profile's metadata."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    kind: str = Field(max_length=32, nullable=False, index=True)
    actor: str | None = Field(default=None, max_length=120)
    request_id: str | None = Field(default=None, max_length=64)
    client: str | None = Field(default=None, max_length=64)
    path: str | None = Field(default=None, max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a request made with an ``Idempotency-Key`` (or to one change of a
    batch), kept to replay it to retries of the same token."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("token_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(nullable=False)
    key: str = Field(max_length=300, nullable=False)
    request_hash: str = Field(max_length=64, nullable=False)
    state: str = Field(max_length=12, nullable=False)  # running, applied, done
    status: int | None = Field(default=None)
    headers: list[list[str]] | None = Field(default=None, sa_type=sa.JSON)
    body: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    # The presence key of the process running the request (PostgreSQL; see fleet.presence).
    owner: int | None = Field(default=None, sa_type=sa.BigInteger)


class RateWindow(SQLModel, table=True):
    """A token's current one-minute window of requests, shared by the API processes of one
    PostgreSQL database (on SQLite the one process counts in memory)."""

    __tablename__ = "rate_window"

    token_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    window_start: int = Field(nullable=False)  # whole minutes since the epoch
    count: int = Field(nullable=False)
