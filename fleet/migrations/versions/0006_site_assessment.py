"""site assessment: when each site was last assessed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_assessment",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
            name=op.f("fk_site_assessment_site_id_site"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_assessment")),
    )
    # Open gaps were seen at their site's last assessment: carry that over from the gaps.
    op.execute(
        "INSERT INTO site_assessment (site_id, assessed_at) "
        "SELECT site_id, MAX(last_seen) FROM gap WHERE resolved_at IS NULL GROUP BY site_id"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE gap SET last_seen = (SELECT assessed_at FROM site_assessment "
        "WHERE site_assessment.site_id = gap.site_id) WHERE resolved_at IS NULL "
        "AND site_id IN (SELECT site_id FROM site_assessment)"
    )
    op.drop_table("site_assessment")
