"""probe leases: the probe workers sharing a fleet on PostgreSQL and the lease of each site

Revision ID: 0013
Revises: 0012_attachments
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "probe_worker",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sites_held", sa.Integer(), nullable=False),
        sa.Column("devices_held", sa.Integer(), nullable=False),
        sa.Column("lag_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_probe_worker")),
    )
    with op.batch_alter_table("probe_worker", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_probe_worker_heartbeat_at"), ["heartbeat_at"], unique=False
        )
    op.create_table(
        "probe_lease",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("worker", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_probe_lease_site_id_site"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_probe_lease")),
    )
    with op.batch_alter_table("probe_lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_probe_lease_worker"), ["worker"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("probe_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_lease_worker"))
    op.drop_table("probe_lease")
    with op.batch_alter_table("probe_worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_worker_heartbeat_at"))
    op.drop_table("probe_worker")
