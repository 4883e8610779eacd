"""attachments: photos and documents of sites, devices and work orders (metadata, and the bytes
in a table of their own)

Revision ID: 0012_attachments
Revises: 0011
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012_attachments"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OWNER = (
    "(object_type = 'site' AND site_id IS NOT NULL AND device_id IS NULL "
    "AND work_order_id IS NULL) OR "
    "(object_type = 'device' AND device_id IS NOT NULL AND site_id IS NULL "
    "AND work_order_id IS NULL) OR "
    "(object_type = 'work_order' AND work_order_id IS NOT NULL AND site_id IS NOT NULL "
    "AND device_id IS NULL)"
)


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("object_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("location_removed", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.CheckConstraint(ONE_OWNER, name=op.f("ck_attachment_one_owner")),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
            name=op.f("fk_attachment_device_id_device"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_attachment_site_id_site"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_attachment_work_order_id_work_order"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachment_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachment_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_attachment_work_order_id"), ["work_order_id"], unique=False
        )

    op.create_table(
        "attachment_content",
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachment.id"],
            name=op.f("fk_attachment_content_attachment_id_attachment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_attachment_content")),
    )


def downgrade() -> None:
    op.drop_table("attachment_content")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_attachment_site_id"))
        batch_op.drop_index(batch_op.f("ix_attachment_device_id"))
    op.drop_table("attachment")
