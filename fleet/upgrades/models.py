"""Tables of the upgrades domain: site profiles, gaps, work orders and their journal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from fleet.changelog import Logged
from fleet.models import UTCDateTime, Versioned, utcnow


class SiteProfile(Versioned, table=True):
    """What a kind of site must have: versioned rules, loaded from site_configs/profiles."""

    __changelog__: ClassVar[Logged] = Logged("site_profile")

    __tablename__ = "site_profile"

    name: str = Field(max_length=80, unique=True, nullable=False)
    profile_version: int = Field(nullable=False)
    site_kinds: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    programme: str | None = Field(default=None, max_length=80)
    description: str | None = Field(default=None, sa_type=sa.Text)
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)


OPEN_GAP = sa.text("resolved_at IS NULL")


class Gap(SQLModel, table=True):
    """A rule a site does not meet: one row per site, rule and subject while it is open."""

    __tablename__ = "gap"
    __table_args__ = (
        sa.Index(
            "uq_gap_open",
            "site_id",
            "rule_id",
            "subject",
            unique=True,
            sqlite_where=OPEN_GAP,
            postgresql_where=OPEN_GAP,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    profile: str = Field(max_length=80, nullable=False)
    profile_version: int = Field(nullable=False)
    rule_id: str = Field(max_length=80, nullable=False)
    rule_type: str = Field(max_length=40, nullable=False, index=True)
    subject: str = Field(max_length=120, nullable=False)  # "site", "device:SERIAL", "kind:camera"
    severity: str = Field(max_length=10, nullable=False)
    work: str = Field(max_length=20, nullable=False)  # install, replace, firmware_upgrade, ...
    required: str = Field(max_length=200, nullable=False)
    actual: str = Field(max_length=200, nullable=False)
    quantity: int = Field(default=1, nullable=False)
    first_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Not indexed: nearly every gap of a fleet is open (resolved_at NULL), which an index on it
    # cannot narrow; open gaps are found through uq_gap_open and the site's index.
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SiteAssessment(SQLModel, table=True):
    """When a site was last assessed. Every gap of the site still open was seen then: an open
    gap's ``last_seen`` is read from here, so that an assessment writes one row per site rather
    than one per open gap."""

    __tablename__ = "site_assessment"

    site_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    assessed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class WorkOrder(Versioned, table=True):
    """One piece of upgrade work for one gap (never two for the same gap)."""

    __tablename__ = "work_order"
    # A site's orders in a state (the assessment of one site reads its open and its completed
    # orders): without the site in the same index, a planner without statistics (SQLite's, as
    # shipped) read every order in the state, i.e. the whole fleet's proposed work.
    __table_args__ = (sa.Index("ix_work_order_site_id_state", "site_id", "state"),)

    gap_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("gap.id", ondelete="RESTRICT"), nullable=False, unique=True
        )
    )
    site_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("site.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=20, nullable=False)
    state: str = Field(max_length=12, nullable=False, index=True)
    title: str = Field(max_length=200, nullable=False)
    assignee: str | None = Field(default=None, max_length=80, index=True)
    due_on: date | None = Field(default=None)
    estimated_cost: float = Field(default=0, nullable=False)
    currency: str = Field(default="EUR", max_length=3, nullable=False)
    programme: str | None = Field(default=None, max_length=80, index=True)
    priority: float = Field(default=0, nullable=False, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JournalEntry(SQLModel, table=True):
    """A transition or a note in a work order's journal."""

    __tablename__ = "work_order_journal"

    id: int | None = Field(default=None, primary_key=True)
    work_order_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("work_order.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    actor: str = Field(max_length=120, nullable=False)
    from_state: str | None = Field(default=None, max_length=12)
    to_state: str | None = Field(default=None, max_length=12)
    note: str | None = Field(default=None, sa_type=sa.Text)
