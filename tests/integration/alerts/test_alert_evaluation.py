"""The evaluation over the database state, with the time given: one alert per rule and object
after the rule's duration, nothing for unreachable kit or inside a maintenance window, scope,
support dates and overdue work, a resolve when the condition ends, no duplicate after a
restart, and one place at a time (the advisory lock on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import col

from fleet.alerts.evaluate import LOCK_KEY, Outcome, evaluate
from fleet.alerts.models import Alert, AlertDelivery
from fleet.database import Database
from fleet.models import utcnow
from fleet.probes.models import ObjectStatus
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder
from tests import factories

from .helpers import cipher_of, sync_alerts, webhook_channel, write_alerts

HOOK = [webhook_channel("hook", "http://127.0.0.1:9/hook")]
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=utcnow().tzinfo)


def _fleet(client: TestClient[Any]) -> dict[str, Any]:
    factories.country(client)
    factories.country(client, code="ML", name="Mali")
    site = factories.site(client, code="NE-BCL-A", criticality=5)
    other = factories.site(client, code="ML-BCL-B", country="ML", criticality=2)
    old = factories.device_model(client, kind="router", end_of_support="2027-01-15")
    modem = factories.device(client, site=site["code"], model=old["slug"])
    camera = factories.device(client, site=site["code"], model=old["slug"], parent_id=modem["id"])
    far = factories.device(client, site=other["code"], model=old["slug"])
    return {"site": site, "other": other, "modem": modem, "camera": camera, "far": far}


def _fresh(function: Any) -> Any:
    """Run with a Database of its own (an engine's pool belongs to one event loop)."""

    async def run(url: str, *args: Any) -> Any:
        db = Database(url)
        try:
            return await function(db, *args)
        finally:
            await db.dispose()

    return run


@_fresh
async def _status(db: Database, rows: list[tuple[str, int, int, str, dict[str, Any]]]) -> None:
    async with db.session(write=True) as session:
        await session.execute(sa.delete(ObjectStatus))
        for object_type, object_id, site_id, state, detail in rows:
            session.add(
                ObjectStatus(
                    object_type=object_type,
                    object_id=object_id,
                    site_id=site_id,
                    state=state,
                    since=T0,
                    reason="test",
                    detail=detail,
                )
            )
        await session.commit()


@_fresh
async def _alerts(db: Database) -> list[Alert]:
    async with db.session() as session:
        return list(await session.scalars(sa.select(Alert).order_by(col(Alert.id))))


@_fresh
async def _messages(db: Database) -> list[tuple[int, str]]:
    async with db.session() as session:
        rows = await session.execute(
            sa.select(col(AlertDelivery.alert_id), col(AlertDelivery.event)).order_by(
                col(AlertDelivery.id)
            )
        )
        return [(a, e) for a, e in rows.all()]


@_fresh
async def _evaluate(db: Database, at: datetime) -> Outcome | None:
    return await evaluate(db, max_delivery_s=60, now=at)


def _run(db: str, at: datetime) -> Outcome:
    outcome = asyncio.run(_evaluate(db, at))
    assert outcome is not None
    return outcome


@pytest.fixture
def world(client: TestClient[Any], settings: Settings, tmp_path: Path) -> tuple[Any, ...]:
    made = _fleet(client)
    db = settings.database_url

    def rules(*given: dict[str, Any]) -> None:
        sync = _fresh(sync_alerts)
        asyncio.run(sync(db, write_alerts(tmp_path, HOOK, list(given)), cipher_of(settings)))

    return made, db, rules


def test_a_disconnected_site_alerts_once_after_its_duration_not_its_kit(world: Any) -> None:
    made, db, rules = world
    site, modem, camera = made["site"]["id"], made["modem"]["id"], made["camera"]["id"]
    rules(
        {"name": "cut", "kind": "site_disconnected", "minutes": 5, "channels": ["hook"]},
        {"name": "down", "kind": "device_down", "minutes": 5, "channels": ["hook"]},
    )
    asyncio.run(
        _status(
            db,
            [
                ("site", site, site, "disconnected", {}),
                ("device", modem, site, "down", {}),
                ("device", camera, site, "unreachable", {}),
            ],
        )
    )
    assert _run(db, T0 + timedelta(minutes=4)).opened == []
    first = _run(db, T0 + timedelta(minutes=5))
    assert len(first.opened) == 1
    assert first.queued == 1
    for minutes in (6, 7, 30):
        assert _run(db, T0 + timedelta(minutes=minutes)).opened == []
    alerts = asyncio.run(_alerts(db))
    assert [(a.rule_name, a.object_type, a.object_key) for a in alerts] == [
        ("cut", "site", "NE-BCL-A")
    ]
    # each run is a new engine and evaluator (as after a restart): still one alert, one message
    assert _run(db, T0 + timedelta(minutes=31)).opened == []
    assert len(asyncio.run(_messages(db))) == 1

    # the site comes back but the modem stays down: the site's alert resolves, the modem's opens
    asyncio.run(
        _status(
            db,
            [("site", site, site, "degraded", {}), ("device", modem, site, "down", {})],
        )
    )
    later = _run(db, T0 + timedelta(minutes=40))
    assert later.resolved == [alerts[0].id]
    assert len(later.opened) == 1
    alerts = asyncio.run(_alerts(db))
    assert [(a.rule_name, a.state) for a in alerts] == [("cut", "resolved"), ("down", "open")]
    assert alerts[0].resolved_at == T0 + timedelta(minutes=40)
    assert sorted(asyncio.run(_messages(db))) == [
        (alerts[0].id, "opened"),
        (alerts[0].id, "resolved"),
        (alerts[1].id, "opened"),
    ]


def test_nothing_alerts_inside_a_maintenance_window(world: Any, client: TestClient[Any]) -> None:
    made, db, rules = world
    site = made["site"]["id"]
    rules({"name": "cut", "kind": "site_disconnected", "seconds": 1, "channels": ["hook"]})
    now = utcnow()
    factories.maintenance_window(
        client,
        site="NE-BCL-A",
        starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(hours=1)).isoformat(),
    )
    # even when the status still says disconnected (the window just began)
    asyncio.run(_status(db, [("site", site, site, "disconnected", {})]))
    assert _run(db, now).opened == []
    assert _run(db, now + timedelta(minutes=30)).opened == []
    assert asyncio.run(_alerts(db)) == []
    assert _run(db, now + timedelta(hours=2)).opened != []  # after the window, it alerts


def test_scope_backup_links_support_dates_and_overdue_work(world: Any, settings: Settings) -> None:
    made, db, rules = world
    site, other = made["site"]["id"], made["other"]["id"]
    rules(
        {
            "name": "ne-critical-backup",
            "kind": "link_backup",
            "hours": 4,
            "scope": {"countries": ["NE"], "criticality": [4, 5]},
        },
        {"name": "eos", "kind": "end_of_support", "days": 60, "scope": {"countries": ["ML"]}},
        {"name": "late", "kind": "work_order_overdue", "days": 2},
    )
    backup = {"link_in_use": {"role": "backup", "circuit_id": "LTE-1", "medium": "lte"}}
    asyncio.run(
        _status(
            db,
            [
                ("site", site, site, "degraded", backup),
                ("site", other, other, "degraded", backup),  # out of the rule's scope
            ],
        )
    )

    @_fresh
    async def order(db: Database, due: date) -> None:
        async with db.session(write=True) as session:
            gap = Gap(
                site_id=site,
                profile="p",
                profile_version=1,
                rule_id="r",
                rule_type="min_devices",
                subject="kind:camera",
                severity="high",
                work="install",
                required=">= 2",
                actual="1",
                first_seen=T0,
                last_seen=T0,
            )
            session.add(gap)
            await session.flush()
            session.add(
                WorkOrder(
                    gap_id=gap.id,
                    site_id=site,
                    kind="install",
                    state="approved",
                    title="cameras",
                    due_on=due,
                )
            )
            await session.commit()

    asyncio.run(order(db, date(2026, 12, 1)))
    at = T0  # 2026-12-07: the work is 6 days late; the router's support ends in 39 days
    assert _run(db, at - timedelta(hours=1)).opened != []
    found = {(a.rule_name, a.object_key) for a in asyncio.run(_alerts(db))}
    assert found == {("eos", made["far"]["serial"]), ("late", found_order(found))}
    _run(db, at + timedelta(hours=4))
    found = {(a.rule_name, a.object_key) for a in asyncio.run(_alerts(db))}
    assert ("ne-critical-backup", "NE-BCL-A") in found
    assert not any(key == "ML-BCL-B" for _rule, key in found)
    summaries = {a.rule_name: a.summary for a in asyncio.run(_alerts(db))}
    assert "end of support on 2027-01-15" in summaries["eos"]
    assert "backup link LTE-1" in summaries["ne-critical-backup"]


def found_order(found: set[tuple[str, str]]) -> str:
    return next(key for rule, key in found if rule == "late")


def test_concurrent_evaluations_open_one_alert(world: Any) -> None:
    made, db, rules = world
    site = made["site"]["id"]
    rules({"name": "cut", "kind": "site_disconnected", "seconds": 1, "channels": ["hook"]})
    asyncio.run(_status(db, [("site", site, site, "disconnected", {})]))

    async def race() -> list[Outcome | None]:
        others = [Database(db) for _ in range(4)]
        try:
            return await asyncio.gather(
                *(evaluate(o, max_delivery_s=60, now=T0 + timedelta(minutes=1)) for o in others)
            )
        finally:
            for other in others:
                await other.dispose()

    outcomes = asyncio.run(race())
    assert sum(len(o.opened) for o in outcomes if o is not None) == 1
    assert len(asyncio.run(_alerts(db))) == 1
    assert len(asyncio.run(_messages(db))) == 1


@pytest.mark.postgres
def test_the_advisory_lock_keeps_the_evaluation_in_one_place(postgres_url: str) -> None:
    async def scenario() -> None:
        holder, other = Database(postgres_url), Database(postgres_url)
        try:
            async with holder.session(write=True) as session:
                await session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
                assert await evaluate(other, max_delivery_s=60) is None
                await session.rollback()
            assert await evaluate(other, max_delivery_s=60) is not None
        finally:
            await holder.dispose()
            await other.dispose()

    asyncio.run(scenario())
