"""object status: what the probes observed as typed columns (firmware, exact last success)

The firmware and the last success a device's probes observed move from keys of the ``detail``
document to columns, and the last success is kept exact (it was kept to the quarter hour).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = sa.table(
    "object_status",
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.Integer()),
    sa.column("detail", sa.JSON()),
    sa.column("firmware_observed", sa.String()),
    sa.column("last_ok_at", sa.DateTime(timezone=True)),
)


def _devices() -> list[Any]:
    return list(
        op.get_bind().execute(
            sa.select(
                STATUS.c.object_id,
                STATUS.c.detail,
                STATUS.c.firmware_observed,
                STATUS.c.last_ok_at,
            ).where(STATUS.c.object_type == "device")
        )
    )


def _set(object_id: int, **values: Any) -> None:
    op.get_bind().execute(
        sa.update(STATUS)
        .where(STATUS.c.object_type == "device", STATUS.c.object_id == object_id)
        .values(**values)
    )


def upgrade() -> None:
    with op.batch_alter_table("object_status", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "firmware_observed", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True))
    for object_id, detail, _, _ in _devices():
        detail = dict(detail or {})
        firmware, last_ok = detail.pop("firmware", None), detail.pop("last_ok_at", None)
        _set(
            object_id,
            detail=detail,
            firmware_observed=(firmware or None) and str(firmware)[:64],
            last_ok_at=datetime.fromisoformat(last_ok) if last_ok else None,
        )


def downgrade() -> None:
    for object_id, detail, firmware, last_ok in _devices():
        detail = dict(detail or {})
        detail["firmware"] = firmware
        detail["last_ok_at"] = last_ok.isoformat() if last_ok else None
        _set(object_id, detail=detail)
    with op.batch_alter_table("object_status", schema=None) as batch_op:
        batch_op.drop_column("last_ok_at")
        batch_op.drop_column("firmware_observed")
