"""alerts: rules and channels (from site_configs/alerts.yaml), alerts, the delivery outbox and
its attempts

At most one alert is open per rule and object: a partial unique index on both backends.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rule_kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("object_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("site_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("country_code", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_country_code"), ["country_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_rule_name"), ["rule_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_alert_open",
            ["rule_name", "object_type", "object_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    op.create_table(
        "alert_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("email_to", sa.JSON(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channel")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_channel_name")),
    )
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("threshold_s", sa.Float(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("site_kinds", sa.JSON(), nullable=False),
        sa.Column("criticality", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rule_name")),
    )
    op.create_table(
        "alert_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_delivery_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery")),
    )
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_delivery_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index("ix_alert_delivery_due", ["state", "next_at"], unique=False)

    op.create_table(
        "alert_delivery_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["alert_delivery.id"],
            name=op.f("fk_alert_delivery_attempt_delivery_id_alert_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery_attempt")),
    )
    with op.batch_alter_table("alert_delivery_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_delivery_attempt_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_delivery_attempt_delivery_id"))

    op.drop_table("alert_delivery_attempt")
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_delivery_due")
        batch_op.drop_index(batch_op.f("ix_alert_delivery_alert_id"))

    op.drop_table("alert_delivery")
    op.drop_table("alert_rule")
    op.drop_table("alert_channel")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alert_open",
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_alert_state"))
        batch_op.drop_index(batch_op.f("ix_alert_site_id"))
        batch_op.drop_index(batch_op.f("ix_alert_rule_name"))
        batch_op.drop_index(batch_op.f("ix_alert_country_code"))

    op.drop_table("alert")
