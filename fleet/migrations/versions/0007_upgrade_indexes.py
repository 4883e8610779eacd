"""upgrade indexes: work orders by site and state; no index on gap.resolved_at

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.create_index("ix_work_order_site_id_state", ["site_id", "state"], unique=False)
        batch_op.drop_index(batch_op.f("ix_work_order_site_id"))
    with op.batch_alter_table("gap", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gap_resolved_at"))


def downgrade() -> None:
    with op.batch_alter_table("gap", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gap_resolved_at"), ["resolved_at"], unique=False)
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_site_id"), ["site_id"], unique=False)
        batch_op.drop_index("ix_work_order_site_id_state")
