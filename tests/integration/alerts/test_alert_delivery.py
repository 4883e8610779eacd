"""The delivery outbox against real receivers on 127.0.0.1: retries with backoff and every
attempt recorded, signatures a receiver can check, e-mail through a real SMTP server, and a
dead receiver (refused, or hanging) that delays no other message."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col

from fleet.alerts.choices import AlertState, DeliveryEvent, DeliveryState
from fleet.alerts.delivery import DELIVERY, SIGNATURE, TIMESTAMP, Outbox, sign, verify
from fleet.alerts.evaluate import enqueue
from fleet.alerts.models import Alert, AlertDelivery, DeliveryAttempt
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings

from .helpers import SECRET, cipher_of, drain, sync_alerts, webhook_channel, write_alerts
from .receivers import refused_url, smtp_server, webhook

pytestmark = pytest.mark.timeout(60)


def fast(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={"alert_backoff_s": 0.05, "alert_backoff_max_s": 0.2, **more})


async def _alert_to(db: Database, channels: list[str], max_s: float = 30.0) -> int:
    now = utcnow()
    async with db.session(write=True) as session:
        alert = Alert(
            rule_name="r",
            rule_kind="site_disconnected",
            object_type="site",
            object_id=1,
            object_key="NE-BCL-01",
            site_code="NE-BCL-01",
            country_code="NE",
            state=AlertState.open.value,
            summary="site NE-BCL-01 disconnected",
            since=now,
        )
        session.add(alert)
        await session.flush()
        enqueue(session, alert, DeliveryEvent.opened, channels, now, max_s)
        await session.commit()
        assert alert.id is not None
        return alert.id


async def _deliveries(db: Database) -> dict[str, AlertDelivery]:
    async with db.session() as session:
        return {d.channel: d for d in await session.scalars(sa.select(AlertDelivery))}


async def _attempts(db: Database, delivery_id: int | None) -> list[DeliveryAttempt]:
    async with db.session() as session:
        return list(
            await session.scalars(
                sa.select(DeliveryAttempt)
                .where(col(DeliveryAttempt.delivery_id) == delivery_id)
                .order_by(col(DeliveryAttempt.id))
            )
        )


def test_three_500s_then_200_is_one_alert_and_four_attempts(
    settings: Settings, tmp_path: Path
) -> None:
    async def scenario() -> None:
        db = Database(settings.database_url)
        outbox = Outbox(db, fast(settings), cipher_of(settings))
        try:
            with webhook([500, 500, 500]) as hook:
                await sync_alerts(
                    db,
                    write_alerts(tmp_path, [webhook_channel("hook", hook.url)], []),
                    cipher_of(settings),
                )
                await _alert_to(db, ["hook"])

                async def sent() -> bool:
                    return (await _deliveries(db))["hook"].state == DeliveryState.sent

                await drain(outbox, 10, sent)
                await outbox.idle()
                delivery = (await _deliveries(db))["hook"]
                assert delivery.state == DeliveryState.sent
                assert delivery.attempts == 4
                attempts = await _attempts(db, delivery.id)
                assert [a.status_code for a in attempts] == [500, 500, 500, 200]
                assert [a.ok for a in attempts] == [False, False, False, True]
                assert all(a.duration_ms >= 0 for a in attempts)
                assert attempts[0].error == "answered 500"
                # the receiver saw the same message four times, one of them taken
                assert len(hook.received) == 4
                assert {r.headers[DELIVERY] for r in hook.received} == {str(delivery.id)}
                waits = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
                assert [round(w, 2) >= d for w, d in zip(waits, (0.05, 0.1, 0.2))] == [True] * 3
                last = hook.received[-1]
                assert verify(
                    SECRET,
                    last.headers[TIMESTAMP],
                    last.body,
                    last.headers[SIGNATURE],
                    max_age_s=300,
                )
                assert not verify(
                    "another-secret-of-enough-length",
                    last.headers[TIMESTAMP],
                    last.body,
                    last.headers[SIGNATURE],
                    max_age_s=300,
                )
                old = str(int(time.time()) - 3600)
                assert not verify(
                    SECRET, old, last.body, sign(SECRET, old, last.body), max_age_s=300
                )
                body = json.loads(last.body)
                assert body["event"] == "alert.opened"
                assert body["alert"]["object_key"] == "NE-BCL-01"
        finally:
            await outbox.close()
            await db.dispose()

    asyncio.run(scenario())


def test_a_receiver_failing_past_the_deadline_fails_the_message(
    settings: Settings, tmp_path: Path
) -> None:
    async def scenario() -> None:
        db = Database(settings.database_url)
        outbox = Outbox(db, fast(settings), cipher_of(settings))
        try:
            await sync_alerts(
                db,
                write_alerts(tmp_path, [webhook_channel("dead", refused_url())], []),
                cipher_of(settings),
            )
            await _alert_to(db, ["dead"], max_s=0.5)

            async def failed() -> bool:
                return (await _deliveries(db))["dead"].state == DeliveryState.failed

            await drain(outbox, 10, failed)
            await outbox.idle()
            delivery = (await _deliveries(db))["dead"]
            assert delivery.state == DeliveryState.failed
            attempts = await _attempts(db, delivery.id)
            assert 2 <= len(attempts) == delivery.attempts
            assert all(a.status_code is None and a.error for a in attempts)
            assert "ConnectError" in (delivery.last_error or "")
        finally:
            await outbox.close()
            await db.dispose()

    asyncio.run(scenario())


def test_a_dead_or_hanging_receiver_delays_no_other_delivery(
    settings: Settings, tmp_path: Path
) -> None:
    async def scenario() -> None:
        db = Database(settings.database_url)
        outbox = Outbox(db, fast(settings), cipher_of(settings))
        try:
            with webhook(hang_s=5.0) as hanging, webhook() as good, smtp_server() as (port, mails):
                mail = {"name": "mail", "kind": "email", "to": ["duty@example.org"]}
                outbox.settings = outbox.settings.model_copy(
                    update={"smtp_host": "127.0.0.1", "smtp_port": port}
                )
                channels = [
                    webhook_channel("hang", hanging.url, timeout_s=3.0),
                    webhook_channel("refused", refused_url()),
                    webhook_channel("good", good.url),
                    mail,
                ]
                await sync_alerts(db, write_alerts(tmp_path, channels, []), cipher_of(settings))
                await _alert_to(db, ["hang", "refused", "good", "mail"])
                started = time.monotonic()

                async def good_sent() -> bool:
                    found = await _deliveries(db)
                    return all(found[c].state == DeliveryState.sent for c in ("good", "mail"))

                await drain(outbox, 10, good_sent)
                took = time.monotonic() - started
                assert took < 1.5, f"the good receivers waited {took:.2f} s"
                assert len(good.received) == 1
                assert len(mails) == 1
                assert "NE-BCL-01" in mails[0]["Subject"]
                assert mails[0]["To"] == "duty@example.org"
                await outbox.idle()
                found = await _deliveries(db)
                hung = await _attempts(db, found["hang"].id)
                assert hung
                assert hung[0].error == "timed out"
                assert hung[0].duration_ms >= 2900
        finally:
            await outbox.close()
            await db.dispose()

    asyncio.run(scenario())
