"""Tables of the attachments: one row of metadata per file, and its bytes in a table of their
own, so that listing never reads them.

An attachment belongs to one object: a site, a device or a work order. Each has a foreign key
of its own (``ON DELETE RESTRICT``): an object is not deleted while files are attached to it.
A work order's files also name the order's site (``site_id``), so that a site with such files
is not deleted either (its orders would go with it).
"""

from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from fleet.changelog import Logged
from fleet.models import Versioned

OBJECT_TYPES = ("site", "device", "work_order")


class Attachment(Versioned, table=True):
    __changelog__: ClassVar[Logged] = Logged("attachment", key="name")

    __tablename__ = "attachment"
    __table_args__ = (
        sa.CheckConstraint(
            "(object_type = 'site' AND site_id IS NOT NULL AND device_id IS NULL "
            "AND work_order_id IS NULL) OR "
            "(object_type = 'device' AND device_id IS NOT NULL AND site_id IS NULL "
            "AND work_order_id IS NULL) OR "
            "(object_type = 'work_order' AND work_order_id IS NOT NULL AND site_id IS NOT NULL "
            "AND device_id IS NULL)",
            name="one_owner",
        ),
    )

    object_type: str = Field(max_length=16, nullable=False)
    # The owner's key as the API names it: a site's code, a device's or an order's id.
    object_key: str = Field(max_length=40, nullable=False)
    site_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("site.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    device_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("device.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    work_order_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("work_order.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    name: str = Field(max_length=200, nullable=False)
    content_type: str = Field(max_length=40, nullable=False)
    size: int = Field(nullable=False)
    sha256: str = Field(max_length=64, nullable=False)
    width: int | None = Field(default=None)
    height: int | None = Field(default=None)
    location_removed: bool = Field(default=False, nullable=False)
    created_by: str = Field(max_length=120, nullable=False)


class AttachmentContent(SQLModel, table=True):
    """The bytes of one attachment."""

    __tablename__ = "attachment_content"

    attachment_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    data: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
