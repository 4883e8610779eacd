"""HTTP probe options per model and device; SNMPv3 legacy waivers on credential profiles

A device model gains the scheme, port and expected status of its HTTP health endpoint (it
had the path); a device may override each of the four. A credential profile gains
``legacy_waiver_reason``: set, it allows that profile's SNMPv3 protocols the policy refuses.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int) -> sa.Column[str]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("device_model", schema=None) as batch_op:
        batch_op.add_column(_text("http_scheme", 8))
        batch_op.add_column(sa.Column("http_port", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("http_expected_status", sa.Integer(), nullable=True))
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(_text("http_scheme", 8))
        batch_op.add_column(sa.Column("http_port", sa.Integer(), nullable=True))
        batch_op.add_column(_text("http_path", 200))
        batch_op.add_column(sa.Column("http_expected_status", sa.Integer(), nullable=True))
    with op.batch_alter_table("credential_profile", schema=None) as batch_op:
        batch_op.add_column(_text("legacy_waiver_reason", 500))


def downgrade() -> None:
    with op.batch_alter_table("credential_profile", schema=None) as batch_op:
        batch_op.drop_column("legacy_waiver_reason")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("http_expected_status")
        batch_op.drop_column("http_path")
        batch_op.drop_column("http_port")
        batch_op.drop_column("http_scheme")
    with op.batch_alter_table("device_model", schema=None) as batch_op:
        batch_op.drop_column("http_expected_status")
        batch_op.drop_column("http_port")
        batch_op.drop_column("http_scheme")
