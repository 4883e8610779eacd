"""Tables of the live view: current status per object, state-change events, recent probe
results (kept for a retention period) and maintenance windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from fleet.changelog import Logged
from fleet.models import UTCDateTime, Versioned, utcnow


class ObjectStatus(SQLModel, table=True):
    """The current state of one device, link or site: one row each, cheap to read. A device's
    row also carries what its probes observed, for the needs assessment: the firmware and the
    moment of its last successful round (exact, kept as it moves)."""

    __tablename__ = "object_status"

    object_type: str = Field(primary_key=True, max_length=8)  # device, link, site
    object_id: int = Field(primary_key=True)
    site_id: int = Field(nullable=False, index=True)
    state: str = Field(max_length=12, nullable=False)
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    reason: str | None = Field(default=None, max_length=200)
    last_result_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    firmware_observed: str | None = Field(default=None, max_length=64)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def status_of(object_type: str, object_id: Any, status: Any = ObjectStatus) -> Any:
    """The condition joining an object's id column to its ``ObjectStatus`` row (or to an alias
    of the table, ``status``), for an outer join: no row means no status yet."""
    return sa.and_(status.object_type == object_type, status.object_id == object_id)


class StateEvent(SQLModel, table=True):
    """A change of state of one object, with its cause."""

    __tablename__ = "state_event"
    __table_args__ = (sa.Index("ix_state_event_object", "object_type", "object_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    object_type: str = Field(max_length=8, nullable=False)
    object_id: int = Field(nullable=False)
    object_key: str = Field(max_length=120, nullable=False)
    site_id: int = Field(nullable=False, index=True)
    country_code: str = Field(max_length=2, nullable=False, index=True)
    old_state: str = Field(max_length=12, nullable=False)
    new_state: str = Field(max_length=12, nullable=False)
    cause: str = Field(max_length=200, nullable=False)


class ProbeResult(SQLModel, table=True):
    """One probe of one device. Kept ``FLEET_RESULT_RETENTION_DAYS``; availability is computed
    from state events, which are small and kept longer."""

    __tablename__ = "probe_result"
    __table_args__ = (sa.Index("ix_probe_result_device_at", "device_id", "at"),)

    id: int | None = Field(
        default=None,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # rowid on SQLite
        primary_key=True,
    )
    device_id: int = Field(nullable=False)
    kind: str = Field(max_length=8, nullable=False)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    status: str = Field(max_length=20, nullable=False)
    duration_ms: float = Field(nullable=False)
    reason: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class MaintenanceWindow(Versioned, table=True):
    """Planned work at a site or on one device: state changes are held and the time does not
    count against availability."""

    __changelog__: ClassVar[Logged] = Logged("maintenance_window", key="id")

    __tablename__ = "maintenance_window"

    site_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    device_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("device.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    reason: str = Field(max_length=500, nullable=False)


class ProbeWorker(SQLModel, table=True):
    """A probe scheduler sharing the fleet through leases (PostgreSQL): its last heartbeat says
    it is alive; what it holds and how late its rounds start are its own last report."""

    __tablename__ = "probe_worker"

    name: str = Field(primary_key=True, max_length=120)
    host: str = Field(max_length=120, nullable=False)
    pid: int = Field(nullable=False)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sites_held: int = Field(default=0, nullable=False)
    devices_held: int = Field(default=0, nullable=False)
    lag_s: float | None = Field(default=None)  # the latest rounds' worst start lateness


class ProbeLease(SQLModel, table=True):
    """Who probes a site's devices, until when. ``token`` grows by one at every take: a
    worker's writes carry the token it took, and only the current one's are stored."""

    __tablename__ = "probe_lease"

    site_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("site.id", ondelete="CASCADE"), primary_key=True)
    )
    worker: str | None = Field(default=None, max_length=120, index=True)
    token: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EdgeNode(SQLModel, table=True):
    """An edge poller, one per edge token: what its last heartbeat said. The sites it serves
    are its token's (``api_token.sites``); the central schedulers leave them to it."""

    __tablename__ = "edge_node"

    token_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("api_token.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    version: str = Field(max_length=40, nullable=False)
    buffered: int = Field(default=0, nullable=False)  # rounds waiting on the edge
    oldest_buffered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dropped: int = Field(default=0, nullable=False)  # rounds its buffer's bounds dropped, ever
    buffer_max_age_s: int = Field(nullable=False)


class EdgeReceipt(SQLModel, table=True):
    """A round an edge sent, by its per-device sequence number: a round sent twice is
    stored once. Purged with the results."""

    __tablename__ = "edge_receipt"

    token_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("api_token.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    device_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(
        primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
