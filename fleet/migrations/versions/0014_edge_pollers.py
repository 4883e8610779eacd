"""edge pollers: the sites an edge token serves, its heartbeat and the rounds it sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sites", sa.JSON(), nullable=True))
    op.create_table(
        "edge_node",
        sa.Column("token_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("buffered", sa.Integer(), nullable=False),
        sa.Column("oldest_buffered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("buffer_max_age_s", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_edge_node_token_id_api_token"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_edge_node")),
    )
    op.create_table(
        "edge_receipt",
        sa.Column("token_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_edge_receipt_token_id_api_token"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "device_id", "seq", name=op.f("pk_edge_receipt")),
    )
    with op.batch_alter_table("edge_receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edge_receipt_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("edge_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edge_receipt_at"))
    op.drop_table("edge_receipt")
    op.drop_table("edge_node")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("sites")
