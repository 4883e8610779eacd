"""Prometheus metrics of the alerts: open alerts by rule kind and messages by state, read from
the database at each scrape (the same in every process), and this process's delivery attempts.

Labels take their values from closed sets (rule kinds, states, channel kinds)."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlmodel import col

from fleet.alerts.choices import AlertState, ChannelKind, DeliveryState, RuleKind
from fleet.alerts.models import Alert, AlertDelivery
from fleet.database import Database
from fleet.metrics import REGISTRY

ATTEMPTS = Counter(
    "fleet_alert_delivery_attempts",
    "Attempts to deliver an alert message, by channel kind and outcome (ok, failed).",
    ["channel_kind", "outcome"],
    registry=REGISTRY,
)
_KINDS = frozenset(k.value for k in ChannelKind)


def observe_attempt(kind: str, ok: bool) -> None:
    ATTEMPTS.labels(kind if kind in _KINDS else "other", "ok" if ok else "failed").inc()


async def alert_view(db: Database) -> list[Metric]:
    """``fleet_alerts_open`` by rule kind, ``fleet_alert_deliveries`` by state (failed: given
    up after every retry)."""
    async with db.session() as session:
        by_kind = dict(
            (
                await session.execute(
                    sa.select(col(Alert.rule_kind), sa.func.count())
                    .where(col(Alert.state) == AlertState.open.value)
                    .group_by(col(Alert.rule_kind))
                )
            ).all()
        )
        by_state = dict(
            (
                await session.execute(
                    sa.select(col(AlertDelivery.state), sa.func.count()).group_by(
                        col(AlertDelivery.state)
                    )
                )
            ).all()
        )
    open_alerts = GaugeMetricFamily(
        "fleet_alerts_open", "Alerts open now, by rule kind.", labels=["rule_kind"]
    )
    for kind in RuleKind:
        open_alerts.add_metric([kind.value], float(by_kind.get(kind.value, 0)))
    deliveries = GaugeMetricFamily(
        "fleet_alert_deliveries",
        "Alert messages in the outbox by state (pending, sent, failed: given up).",
        labels=["state"],
    )
    for state in DeliveryState:
        deliveries.add_metric([state.value], float(by_state.get(state.value, 0)))
    return [open_alerts, deliveries]
