"""One evaluation of every rule against the database, in one transaction: an alert opens when
a rule's condition has held on an object for the rule's duration (once: one open alert per rule
and object), and resolves when it no longer holds; each opening and resolution puts one message
per channel of the rule in the delivery outbox.

It runs in one place at a time: on PostgreSQL the transaction takes an advisory lock first
(``pg_try_advisory_xact_lock``; a process that does not get it skips this evaluation), on
SQLite the write transaction holds the database's one writer lock. The alerts and the outbox
are rows, so what was opened before a restart is not opened again after it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog, context
from fleet.alerts.choices import HELD_KINDS, AlertState, DeliveryEvent, DeliveryState
from fleet.alerts.conditions import FIND, Finding, open_windows
from fleet.alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from fleet.changelog import ChangeAction
from fleet.database import Database
from fleet.models import utcnow

ACTOR = "alerts"
#: The advisory lock of the evaluation on PostgreSQL (any fixed 64-bit number: "fleet-alerts").
LOCK_KEY = 0x666C_6565_7461_6C72 & 0x7FFF_FFFF_FFFF_FFFF
#: The fields of an alert the change log and the messages show.
FIELDS = (
    "id",
    "rule_name",
    "rule_kind",
    "object_type",
    "object_id",
    "object_key",
    "site_id",
    "site_code",
    "country_code",
    "state",
    "summary",
    "since",
    "opened_at",
    "resolved_at",
    "acked_at",
    "acked_by",
    "version",
)


def public(alert: Alert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in FIELDS}


@dataclass
class Outcome:
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    queued: int = 0


def payload(alert: Alert, event: DeliveryEvent) -> dict[str, Any]:
    """The JSON body of a message about ``alert``."""
    body = changelog.plain
    return {
        "event": f"alert.{event.value}",
        "alert": {name: body(getattr(alert, name)) for name in FIELDS if name != "version"},
    }


def enqueue(
    session: AsyncSession,
    alert: Alert,
    event: DeliveryEvent,
    channels: list[str],
    now: datetime,
    max_total_s: float,
) -> int:
    """One outbox row per channel for ``event`` of ``alert``; how many."""
    assert alert.id is not None
    for name in channels:
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel=name,
                event=event.value,
                payload=payload(alert, event),
                state=DeliveryState.pending.value,
                next_at=now,
                deadline=now + timedelta(seconds=max_total_s),
            )
        )
    return len(channels)


async def _locked(session: AsyncSession, db: Database) -> bool:
    if db.sqlite:
        return True
    got = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(LOCK_KEY)))
    return bool(got)


async def evaluate(
    db: Database, *, max_delivery_s: float, now: datetime | None = None
) -> Outcome | None:
    """Evaluate every rule at ``now``; None when another process holds the evaluation."""
    moment = now or utcnow()
    with context.acting_as(ACTOR):
        async with db.session(write=True) as session:
            if not await _locked(session, db):
                return None
            outcome = await _evaluate(session, moment, max_delivery_s)
            await session.commit()
    return outcome


async def _evaluate(session: AsyncSession, now: datetime, max_delivery_s: float) -> Outcome:
    rules = {r.name: r for r in await session.scalars(sa.select(AlertRule))}
    channels = set(await session.scalars(sa.select(col(AlertChannel.name))))
    opened: dict[str, dict[tuple[str, int], Alert]] = defaultdict(dict)
    for alert in await session.scalars(
        sa.select(Alert).where(col(Alert.state) == AlertState.open.value).with_for_update()
    ):
        opened[alert.rule_name][(alert.object_type, alert.object_id)] = alert
    windows = await open_windows(session, now)
    outcome = Outcome()
    for name in set(opened) | set(rules):
        rule = rules.get(name)
        findings: dict[tuple[str, int], Finding] = {}
        if rule is not None and rule.enabled and rule.kind in FIND:
            findings = await FIND[rule.kind](session, rule, now)
            if rule.kind in HELD_KINDS:
                findings = {k: f for k, f in findings.items() if not windows.cover(f)}
        targets = [c for c in (rule.channels if rule else []) if c in channels]
        for key, alert in opened[name].items():
            if key not in findings:
                _resolve(session, alert, now)
                await session.flush()
                outcome.resolved.append(int(alert.id or 0))
                outcome.queued += enqueue(
                    session, alert, DeliveryEvent.resolved, targets, now, max_delivery_s
                )
        if rule is None:
            continue
        held = timedelta(seconds=rule.threshold_s) if rule.kind in HELD_KINDS else timedelta(0)
        for key, finding in findings.items():
            if key in opened[name] or now - finding.since < held:
                continue
            alert = _open(session, rule, finding, now)
            await session.flush()
            changelog.log(
                session,
                ChangeAction.create,
                alert,
                None,
                public(alert),
                site_id=alert.site_id,
                country_code=alert.country_code,
            )
            outcome.opened.append(int(alert.id or 0))
            outcome.queued += enqueue(
                session, alert, DeliveryEvent.opened, targets, now, max_delivery_s
            )
    return outcome


def _open(session: AsyncSession, rule: AlertRule, finding: Finding, now: datetime) -> Alert:
    alert = Alert(
        rule_name=rule.name,
        rule_kind=rule.kind,
        object_type=finding.object_type,
        object_id=finding.object_id,
        object_key=finding.object_key[:120],
        site_id=finding.site_id,
        site_code=finding.site_code,
        country_code=finding.country,
        state=AlertState.open.value,
        summary=finding.summary[:300],
        since=finding.since,
        opened_at=now,
    )
    session.add(alert)
    return alert


def _resolve(session: AsyncSession, alert: Alert, now: datetime) -> None:
    before = public(alert)
    alert.state = AlertState.resolved.value
    alert.resolved_at = now
    alert.version += 1
    alert.updated_at = now
    changelog.log(
        session,
        ChangeAction.update,
        alert,
        before,
        public(alert),
        site_id=alert.site_id,
        country_code=alert.country_code,
    )
