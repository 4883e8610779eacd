"""Tables of the alerts: rules and channels (loaded from ``site_configs/alerts.yaml``), alerts
(one open incident per rule and object) and the delivery outbox with every attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from fleet.changelog import Logged
from fleet.models import UTCDateTime, Versioned, utcnow


class AlertChannel(Versioned, table=True):
    """Where alerts go: a webhook (URL and its signing secret, encrypted) or e-mail recipients
    (through the SMTP server of the settings)."""

    __changelog__: ClassVar[Logged] = Logged("alert_channel", ignore=("secret",))
    __tablename__ = "alert_channel"

    name: str = Field(max_length=64, nullable=False, unique=True)
    kind: str = Field(max_length=8, nullable=False)
    url: str | None = Field(default=None, max_length=500, description="The webhook's URL")
    secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    email_to: list[str] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        nullable=False,
        description="The e-mail recipients",
    )
    timeout_s: float = Field(default=10.0, nullable=False, description="Time one attempt may take")


class AlertRule(Versioned, table=True):
    """What raises an alert: a kind of condition, a duration, a scope and the channels."""

    __changelog__: ClassVar[Logged] = Logged("alert_rule")
    __tablename__ = "alert_rule"

    name: str = Field(max_length=64, nullable=False, unique=True, description="The rule's name")
    kind: str = Field(max_length=24, nullable=False, description="What the rule watches")
    threshold_s: float = Field(
        nullable=False,
        description="How long the condition holds before the alert opens (for end_of_support: "
        "how far ahead; for work_order_overdue: how late), in seconds",
    )
    countries: list[str] = Field(
        default_factory=list, sa_type=sa.JSON, nullable=False, description="Only these countries"
    )
    site_kinds: list[str] = Field(
        default_factory=list, sa_type=sa.JSON, nullable=False, description="Only these site kinds"
    )
    criticality: list[int] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        nullable=False,
        description="Only sites of these criticalities",
    )
    channels: list[str] = Field(
        default_factory=list, sa_type=sa.JSON, nullable=False, description="Channel names"
    )
    description: str | None = Field(default=None, max_length=500, description="What it is for")
    enabled: bool = Field(default=True, nullable=False, description="Evaluated or not")


class Alert(Versioned, table=True):
    """One incident: a rule's condition held on one object. At most one is open per rule and
    object (a partial unique index says so to every process)."""

    __changelog__: ClassVar[Logged] = Logged("alert", key="id")
    __tablename__ = "alert"
    __table_args__ = (
        sa.Index(
            "uq_alert_open",
            "rule_name",
            "object_type",
            "object_id",
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        ),
    )

    rule_name: str = Field(max_length=64, nullable=False, index=True, description="The rule")
    rule_kind: str = Field(max_length=24, nullable=False, description="What the rule watches")
    object_type: str = Field(max_length=16, nullable=False, description="site, device, work_order")
    object_id: int = Field(nullable=False, description="The object's id")
    object_key: str = Field(max_length=120, nullable=False, description="Its code or serial")
    site_id: int | None = Field(default=None, index=True, description="The site concerned")
    site_code: str | None = Field(default=None, max_length=40, description="Its code")
    country_code: str | None = Field(default=None, max_length=2, index=True)
    state: str = Field(max_length=12, nullable=False, index=True, description="open or resolved")
    summary: str = Field(max_length=300, nullable=False, description="What happened")
    since: datetime = Field(
        sa_type=UTCDateTime, nullable=False, description="When the condition began"
    )
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acked_by: str | None = Field(default=None, max_length=120, description="Who acknowledged")


class AlertDelivery(SQLModel, table=True):
    """The outbox: one message of one alert (opened or resolved) to one channel, tried with
    backoff until it is sent or its time is up."""

    __tablename__ = "alert_delivery"
    __table_args__ = (sa.Index("ix_alert_delivery_due", "state", "next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("alert.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    channel: str = Field(max_length=64, nullable=False, description="The channel's name")
    event: str = Field(max_length=12, nullable=False, description="opened or resolved")
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_type=sa.JSON, nullable=False, description="The JSON body sent"
    )
    state: str = Field(max_length=12, nullable=False, description="pending, sent or failed")
    attempts: int = Field(default=0, nullable=False, description="Attempts made")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    next_at: datetime = Field(
        sa_type=UTCDateTime, nullable=False, description="When the next attempt is due"
    )
    deadline: datetime = Field(
        sa_type=UTCDateTime, nullable=False, description="No attempt starts after this"
    )
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=300, description="The last failure")


class DeliveryAttempt(SQLModel, table=True):
    """One try of one delivery: the answer's status code or the error, and how long it took."""

    __tablename__ = "alert_delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("alert_delivery.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    ok: bool = Field(nullable=False, description="Whether the receiver took it")
    status_code: int | None = Field(default=None, description="The HTTP status (webhooks)")
    error: str | None = Field(default=None, max_length=300, description="What went wrong")
    duration_ms: float = Field(nullable=False, description="How long the attempt took")
