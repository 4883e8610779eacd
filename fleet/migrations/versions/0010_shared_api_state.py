"""State the API processes of one PostgreSQL database share

An idempotency record names its owner (the presence key of the process running the request),
so that another process can tell a running request from one whose process died. A token's
rate-limit window is one row, counted by every process.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.BigInteger(), nullable=True))
    op.create_table(
        "rate_window",
        sa.Column("token_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_rate_window")),
    )


def downgrade() -> None:
    op.drop_table("rate_window")
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_column("owner")
