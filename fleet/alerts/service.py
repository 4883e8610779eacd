"""What the API does with alerts: read them (within a token's countries), acknowledge one
(logged with the actor), read a message's attempts and send a message again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog
from fleet.alerts.choices import AlertState, DeliveryState
from fleet.alerts.evaluate import public
from fleet.alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule, DeliveryAttempt
from fleet.changelog import ChangeAction
from fleet.errors import Conflict, NotFound
from fleet.models import utcnow

Scope = frozenset[str] | None
#: The attempts shown with one message (the latest).
MAX_ATTEMPTS_SHOWN = 100

RULE_FIELDS = (
    "id",
    "name",
    "kind",
    "threshold_s",
    "countries",
    "site_kinds",
    "criticality",
    "channels",
    "description",
    "enabled",
    "version",
    "updated_at",
)
CHANNEL_FIELDS = ("id", "name", "kind", "url", "email_to", "timeout_s", "version", "updated_at")
DELIVERY_FIELDS = (
    "id",
    "alert_id",
    "channel",
    "event",
    "state",
    "attempts",
    "created_at",
    "next_at",
    "deadline",
    "sent_at",
    "last_error",
)
ATTEMPT_FIELDS = ("id", "at", "ok", "status_code", "error", "duration_ms")


def scoped(statement: Any, scope: Scope) -> Any:
    """Alerts of the scope's countries only (an alert of no country: unscoped tokens only)."""
    return (
        statement if scope is None else statement.where(col(Alert.country_code).in_(sorted(scope)))
    )


def alerts_select() -> Any:
    return sa.select(Alert)


def public_row(row: Any) -> dict[str, Any]:
    return public(row[0])


def public_rule(rule: AlertRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def public_channel(channel: AlertChannel) -> dict[str, Any]:
    return {name: getattr(channel, name) for name in CHANNEL_FIELDS} | {
        "has_secret": channel.secret is not None
    }


def public_delivery(delivery: AlertDelivery, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in DELIVERY_FIELDS} | {
        "attempt_log": [{n: getattr(a, n) for n in ATTEMPT_FIELDS} for a in attempts]
    }


async def load(session: AsyncSession, alert_id: int, scope: Scope, *, lock: bool = False) -> Alert:
    statement = scoped(sa.select(Alert).where(col(Alert.id) == alert_id), scope)
    if lock:
        statement = statement.with_for_update()
    alert: Alert | None = await session.scalar(statement)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


async def acknowledge(session: AsyncSession, alert: Alert, actor: str) -> Alert:
    """Mark ``alert`` acknowledged by ``actor`` (once: a second acknowledgement is a 409)."""
    if alert.acked_at is not None:
        raise Conflict(f"alert {alert.id} was acknowledged by {alert.acked_by} already")
    before = public(alert)
    alert.acked_at = utcnow()
    alert.acked_by = actor[:120]
    alert.version += 1
    alert.updated_at = alert.acked_at
    await session.flush()
    changelog.log(
        session,
        ChangeAction.update,
        alert,
        before,
        public(alert),
        site_id=alert.site_id,
        country_code=alert.country_code,
    )
    return alert


async def deliveries(session: AsyncSession, alert: Alert) -> list[dict[str, Any]]:
    rows = list(
        await session.scalars(
            sa.select(AlertDelivery)
            .where(col(AlertDelivery.alert_id) == alert.id)
            .order_by(col(AlertDelivery.id))
            .limit(200)
        )
    )
    return [public_delivery(row, await attempts_of(session, row)) for row in rows]


async def attempts_of(session: AsyncSession, delivery: AlertDelivery) -> list[DeliveryAttempt]:
    rows = await session.scalars(
        sa.select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id) == delivery.id)
        .order_by(col(DeliveryAttempt.id).desc())
        .limit(MAX_ATTEMPTS_SHOWN)
    )
    return list(reversed(list(rows)))


async def load_delivery(
    session: AsyncSession, delivery_id: int, scope: Scope, *, lock: bool = False
) -> AlertDelivery:
    statement = scoped(
        sa.select(AlertDelivery)
        .join(Alert, col(Alert.id) == col(AlertDelivery.alert_id))
        .where(col(AlertDelivery.id) == delivery_id),
        scope,
    )
    if lock:
        statement = statement.with_for_update(of=AlertDelivery)
    delivery: AlertDelivery | None = await session.scalar(statement)
    if delivery is None:
        raise NotFound(f"no alert delivery {delivery_id}")
    return delivery


async def resend(session: AsyncSession, delivery: AlertDelivery, max_total_s: float) -> None:
    """Send a message again, now, with a new deadline (409 while it is still being tried)."""
    if delivery.state == DeliveryState.pending.value:
        raise Conflict(f"alert delivery {delivery.id} is still being tried")
    now = utcnow()
    delivery.state = DeliveryState.pending.value
    delivery.next_at = now
    delivery.deadline = now + timedelta(seconds=max_total_s)
    delivery.claimed_until = None
    await session.flush()


async def rules(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.scalars(sa.select(AlertRule).order_by(col(AlertRule.name)))
    return [public_rule(r) for r in rows]


async def channels(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.scalars(sa.select(AlertChannel).order_by(col(AlertChannel.name)))
    return [public_channel(c) for c in rows]


async def open_alerts(session: AsyncSession, scope: Scope, limit: int = 50) -> list[Alert]:
    """The open alerts for the board, newest first."""
    statement = scoped(
        sa.select(Alert)
        .where(col(Alert.state) == AlertState.open.value)
        .order_by(col(Alert.opened_at).desc(), col(Alert.id).desc())
        .limit(limit),
        scope,
    )
    return list(await session.scalars(statement))
