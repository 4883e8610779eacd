"""The delivery outbox: each due message is claimed in the database, then sent in a task of its
own under a timeout, so a slow or dead receiver holds only its own message (and one of a
bounded number of slots), never the probes or another delivery. Every attempt is recorded; a
failed one is retried with exponential backoff until the message's deadline, then the message
is failed (and may be sent again through the API).

A webhook gets the JSON body with ``X-Fleet-Timestamp`` (Unix seconds) and
``X-Fleet-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the
channel's secret: a receiver checks the signature and refuses an old timestamp (a replay).
``X-Fleet-Delivery`` names the message, the same on every attempt, for the receiver to
deduplicate. An e-mail goes through the SMTP server of the settings."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import sqlalchemy as sa
from sqlmodel import col

from fleet.alerts import metrics
from fleet.alerts.choices import ChannelKind, DeliveryState
from fleet.alerts.models import AlertChannel, AlertDelivery, DeliveryAttempt
from fleet.database import Database, json_text
from fleet.inventory.credentials import Cipher, NoKey
from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.settings import Settings

log = get_logger("fleet.alerts")
SIGNATURE = "X-Fleet-Signature"
TIMESTAMP = "X-Fleet-Timestamp"
DELIVERY = "X-Fleet-Delivery"
#: Time a claim outlives an attempt's timeout: a process killed mid-send leaves a claim that
#: another (or the same, restarted) process takes over after this.
CLAIM_GRACE_S = 30.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: float) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class Result:
    ok: bool
    status_code: int | None = None
    error: str | None = None


def backoff(attempts: int, settings: Settings) -> float:
    """The delay after the ``attempts``-th failed attempt."""
    return float(
        min(settings.alert_backoff_s * 2 ** max(0, attempts - 1), settings.alert_backoff_max_s)
    )


def _subject(payload: dict[str, Any]) -> str:
    alert = payload.get("alert", {})
    word = "RESOLVED" if payload.get("event") == "alert.resolved" else "ALERT"
    return f"[fleet] {word}: {alert.get('summary', '')}"[:200]


def email_message(payload: dict[str, Any], sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = _subject(payload)
    alert = payload.get("alert", {})
    lines = [f"{key}: {value}" for key, value in alert.items() if value is not None]
    message.set_content("\n".join([_subject(payload), "", *lines, "", json.dumps(payload)]))
    return message


class Outbox:
    """Claims due messages and sends each in its own task (at most
    ``alert_delivery_concurrency`` at once)."""

    def __init__(self, db: Database, settings: Settings, cipher: Cipher) -> None:
        self.db = db
        self.settings = settings
        self.cipher = cipher
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def free(self) -> int:
        return self.settings.alert_delivery_concurrency - len(self.tasks)

    async def run_once(self, now: datetime | None = None) -> int:
        """Start sending the messages that are due (as many as there are free slots)."""
        if self.free <= 0:
            return 0
        claimed = await self._claim(now or utcnow(), self.free)
        for delivery_id, channel in claimed:
            task = asyncio.create_task(self._send(delivery_id, channel))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claimed)

    async def idle(self) -> None:
        """Wait for the messages being sent."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await self.client.aclose()

    async def _claim(self, now: datetime, limit: int) -> list[tuple[int, AlertChannel | None]]:
        async with self.db.session(write=True) as session:
            statement = (
                sa.select(AlertDelivery)
                .where(
                    col(AlertDelivery.state) == DeliveryState.pending.value,
                    col(AlertDelivery.next_at) <= now,
                    sa.or_(
                        col(AlertDelivery.claimed_until).is_(None),
                        col(AlertDelivery.claimed_until) < now,
                    ),
                )
                .order_by(col(AlertDelivery.next_at), col(AlertDelivery.id))
                .limit(limit)
            )
            if not self.db.sqlite:
                statement = statement.with_for_update(skip_locked=True)
            rows = list(await session.scalars(statement))
            if not rows:
                return []
            channels = {
                c.name: c
                for c in await session.scalars(
                    sa.select(AlertChannel).where(
                        col(AlertChannel.name).in_({r.channel for r in rows})
                    )
                )
            }
            claimed: list[tuple[int, AlertChannel | None]] = []
            for row in rows:
                channel = channels.get(row.channel)
                timeout = channel.timeout_s if channel else 0.0
                row.claimed_until = now + timedelta(seconds=timeout + CLAIM_GRACE_S)
                claimed.append((int(row.id or 0), channel))
            await session.commit()
        return claimed

    async def _send(self, delivery_id: int, channel: AlertChannel | None) -> None:
        async with self.db.session() as session:
            delivery = await session.get(AlertDelivery, delivery_id)
        if delivery is None:
            return
        started = time.perf_counter()
        try:
            if channel is None:
                result = Result(False, error=f"no channel {delivery.channel!r} any more")
            else:
                result = await asyncio.wait_for(
                    self._attempt(delivery, channel), timeout=channel.timeout_s
                )
        except TimeoutError:
            result = Result(False, error="timed out")
        except Exception as exc:  # every failure is an attempt's result
            result = Result(False, error=f"{type(exc).__name__}: {exc}"[:300])
        duration_ms = (time.perf_counter() - started) * 1000
        kind = channel.kind if channel else "none"
        metrics.observe_attempt(kind, result.ok)
        await self._record(delivery_id, result, duration_ms)

    async def _attempt(self, delivery: AlertDelivery, channel: AlertChannel) -> Result:
        if channel.kind == ChannelKind.webhook:
            return await self._webhook(delivery, channel)
        return await self._email(delivery, channel)

    async def _webhook(self, delivery: AlertDelivery, channel: AlertChannel) -> Result:
        if channel.url is None or channel.secret is None:
            return Result(False, error="the webhook has no URL or secret")
        try:
            secret = self.cipher.decrypt(channel.secret)["secret"]
        except NoKey:
            return Result(False, error="no credential keys to read the webhook's secret")
        body = json_text(delivery.payload).encode()
        timestamp = str(int(time.time()))
        response = await self.client.post(
            channel.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP: timestamp,
                SIGNATURE: sign(secret, timestamp, body),
                DELIVERY: str(delivery.id),
                "User-Agent": "fleet-alerts",
            },
            timeout=channel.timeout_s,
        )
        if 200 <= response.status_code < 300:
            return Result(True, response.status_code)
        return Result(False, response.status_code, f"answered {response.status_code}")

    async def _email(self, delivery: AlertDelivery, channel: AlertChannel) -> Result:
        settings = self.settings
        if settings.smtp_host is None:
            return Result(False, error="no SMTP server is set (FLEET_SMTP_HOST)")
        message = email_message(delivery.payload, settings.smtp_from, list(channel.email_to))
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            start_tls=settings.smtp_starttls,
            use_tls=False,
            username=settings.smtp_username,
            password=password,
            timeout=channel.timeout_s,
        )
        return Result(True)

    async def _record(self, delivery_id: int, result: Result, duration_ms: float) -> None:
        now = utcnow()
        async with self.db.session(write=True) as session:
            delivery = await session.get(AlertDelivery, delivery_id)
            if delivery is None:
                return
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery_id,
                    at=now,
                    ok=result.ok,
                    status_code=result.status_code,
                    error=result.error,
                    duration_ms=round(duration_ms, 2),
                )
            )
            delivery.attempts += 1
            delivery.claimed_until = None
            if result.ok:
                delivery.state = DeliveryState.sent.value
                delivery.sent_at = now
                delivery.last_error = None
            else:
                delivery.last_error = result.error
                following = now + timedelta(seconds=backoff(delivery.attempts, self.settings))
                if following > delivery.deadline:
                    delivery.state = DeliveryState.failed.value
                    log.warning(
                        "alert_delivery_failed",
                        delivery=delivery_id,
                        channel=delivery.channel,
                        attempts=delivery.attempts,
                        error=result.error,
                    )
                else:
                    delivery.next_at = following
            await session.commit()
