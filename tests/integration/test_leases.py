"""Site leases on a real PostgreSQL: fair shares, hand-back to a worker that starts, take-over
from one that stops beating, the fence that keeps a lost site's late results out, and two real
schedulers in one process sharing a fleet of TCP peers without probing anything twice."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from pydantic import ValidationError

from fleet.api.app import create_app
from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.models import utcnow
from fleet.probes import store
from fleet.probes.leases import Leases
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.store import Fence
from fleet.settings import Settings
from tests import factories
from tests.conftest import TEST_KEY, auth, run
from tests.dashboards import Peer

pytestmark = pytest.mark.postgres
SITES = 7


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:  # PostgreSQL alone: leases need it
    from tests.conftest import TABLES, _execute

    url: str = request.getfixturevalue("postgres_url")
    run(_execute(url, f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
def fleet_client(settings: Settings, admin_token: str) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(admin_token))
        yield client


def make_sites(client: TestClient[Any], n: int) -> list[dict[str, Any]]:
    factories.country(client)
    return [factories.site(client) for _ in range(n)]


async def _lease_rows(url: str) -> dict[int, tuple[str | None, int]]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.execute(sa.text("SELECT site_id, worker, token FROM probe_lease"))
            return {site: (worker, token) for site, worker, token in rows}
    finally:
        await db.dispose()


def test_fair_shares_and_hand_back(db_url: str, fleet_client: TestClient[Any]) -> None:
    make_sites(fleet_client, SITES)

    async def scenario() -> None:
        db = Database(db_url)
        a, b = (Leases(db, name, "host", 1, lease_s=30) for name in ("a", "b"))
        try:
            await a.register()
            first = await a.beat({}, 0, None)
            assert len(first.taken) == SITES  # alone: every site
            assert set(first.taken.values()) == {1}  # the first take of each: token 1
            await b.register()
            nothing = await b.beat({}, 0, None)
            share = math.ceil(SITES / 2)
            assert (nothing.taken, nothing.live, nothing.share) == ({}, 2, share)
            crowded = await a.beat(first.taken, 0, None)
            assert len(crowded.surplus) == SITES - share
            surplus = {site: crowded.held[site] for site in crowded.surplus}
            await a.release(surplus)
            second = await b.beat({}, 0, None)
            assert set(second.taken) == set(surplus)
            assert set(second.taken.values()) == {2}  # taken again: the token moved on
            rows = await _lease_rows(db_url)
            assert sorted(w for w, _ in rows.values()) == ["a"] * share + ["b"] * (SITES - share)
            settled = await a.beat(
                {s: t for s, t in crowded.held.items() if s not in surplus}, 0, None
            )
            assert (settled.taken, settled.surplus, settled.lost) == ({}, [], set())
        finally:
            await db.dispose()

    run(scenario())


def test_a_silent_worker_is_taken_over_and_fenced(
    db_url: str, fleet_client: TestClient[Any]
) -> None:
    make_sites(fleet_client, 3)

    async def scenario() -> None:
        db = Database(db_url)
        a, b = Leases(db, "a", "host", 1, lease_s=2), Leases(db, "b", "host", 2, lease_s=2)
        try:
            await a.register()
            held = (await a.beat({}, 0, None)).taken
            await b.register()
            assert (await b.beat({}, 0, None)).taken == {}
            await asyncio.sleep(2.2)  # a stops beating: its heartbeat and leases run out
            taken = (await b.beat({}, 0, None)).taken
            assert set(taken) == set(held)
            async with db.session() as session:
                assert await a.fence(session, held) == set()  # a's writes are out
                assert await b.fence(session, taken) == set(taken)
            back = await a.beat(held, 0, None)
            assert back.lost == set(held)
            assert back.held == {}
        finally:
            await db.dispose()

    run(scenario())


def test_the_fence_keeps_late_results_out(db_url: str, fleet_client: TestClient[Any]) -> None:
    site = make_sites(fleet_client, 1)[0]
    model = factories.device_model(fleet_client, kind="router")
    device = factories.device(fleet_client, site=site["code"], model=model["slug"])

    async def scenario() -> int:
        db = Database(db_url)
        a, b = Leases(db, "a", "host", 1, lease_s=2), Leases(db, "b", "host", 2, lease_s=2)
        try:
            await a.register()
            held = (await a.beat({}, 0, None)).taken
            row = {
                "device_id": device["id"],
                "kind": "tcp",
                "at": utcnow(),
                "status": "ok",
                "duration_ms": 1.0,
                "reason": None,
                "data": None,
            }
            fence = Fence(held=lambda s: a.fence(s, held), site_of=lambda _d: site["id"])
            assert await store.write(db, [row], [], [], [], fence=fence) == 0
            await asyncio.sleep(2.2)
            await b.register()
            await b.beat({}, 0, None)
            left = await store.write(db, [dict(row, at=utcnow())], [], [], [], fence=fence)
            async with db.session() as session:
                stored = await session.scalar(sa.text("SELECT count(*) FROM probe_result"))
            assert left == 1
            return int(stored or 0)
        finally:
            await db.dispose()

    assert run(scenario()) == 1  # the first, not the late one


def fast(settings: Settings, name: str) -> Settings:
    return settings.model_copy(
        update={
            "scheduler": True,
            "probe_interval_s": 1.0,
            "probe_jitter_s": 0.0,
            "probe_timeout_s": 2.0,
            "probe_retries": 0,
            "probe_lease_s": 3.0,
            "probe_heartbeat_s": 0.5,
            "reconcile_interval_s": 0.3,
            "worker_name": name,
        }
    )


def test_two_schedulers_share_the_fleet(settings: Settings, fleet_client: TestClient[Any]) -> None:
    sites = make_sites(fleet_client, 4)
    model = factories.device_model(fleet_client, kind="router")
    peer = Peer()
    for site in sites:
        for _ in range(3):
            factories.device(
                fleet_client,
                site=site["code"],
                model=model["slug"],
                probes=["tcp"],
                management_address="127.0.0.1",
                probe_port=peer.port,
            )

    async def scenario() -> tuple[list[tuple[int, float]], dict[str, set[int]]]:
        db = Database(settings.database_url)
        cipher = Cipher(TEST_KEY)
        one = ProbeScheduler(db, fast(settings, "one"), cipher)
        two = ProbeScheduler(db, fast(settings, "two"), cipher)
        await one.start()
        await two.start()
        await asyncio.sleep(4)
        held = {"one": set(one.engine.sites or ()), "two": set(two.engine.sites or ())}
        await one.stop()  # hands its sites back at once
        await asyncio.sleep(3)
        taken = set(two.engine.sites or ())
        await two.stop()
        async with db.session() as session:
            rows = await session.execute(
                sa.text("SELECT device_id, extract(epoch FROM at) FROM probe_result ORDER BY at")
            )
            results = [(int(d), float(at)) for d, at in rows]
        await db.dispose()
        held["after"] = taken
        return results, held

    results, held = run(scenario())
    peer.cut()
    site_ids = {site["id"] for site in sites}
    assert held["one"] | held["two"] == site_ids
    assert held["one"] & held["two"] == set()
    assert len(held["one"]) == len(held["two"]) == 2
    assert held["after"] == site_ids
    by_device: dict[int, list[float]] = {}
    for device_id, at in results:
        by_device.setdefault(device_id, []).append(at)
    assert len(by_device) == 12
    twice = [
        (d, round(b - a, 2))
        for d, times in by_device.items()
        for a, b in itertools.pairwise(times)
        if b - a < 0.5
    ]
    assert twice == []  # never two rounds of a device in half an interval


def test_leases_need_postgresql_and_room_to_beat() -> None:
    with pytest.raises(ValidationError, match="needs PostgreSQL"):
        Settings(database_url="sqlite+aiosqlite:///x.db", probe_leases=True)
    with pytest.raises(ValidationError, match="a third"):
        Settings(probe_lease_s=10, probe_heartbeat_s=5)
    assert not Settings(database_url="sqlite+aiosqlite:///x.db").shares_probes
    assert Settings(database_url="postgresql+asyncpg://h/db").shares_probes
    assert not Settings(database_url="postgresql+asyncpg://h/db", probe_leases=False).shares_probes


def test_workers_show_in_the_api_and_metrics(db_url: str, fleet_client: TestClient[Any]) -> None:
    make_sites(fleet_client, 2)

    async def scenario() -> None:
        db = Database(db_url)
        alive, gone = Leases(db, "alive", "h1", 11, lease_s=30), Leases(db, "gone", "h2", 12, 30)
        try:
            await alive.register()
            held = (await alive.beat({}, 5, 0.25)).taken
            await alive.beat(held, 5, 0.25)  # reports what it holds
            await gone.register()
            await gone.stop({})
        finally:
            await db.dispose()

    run(scenario())
    items = {w["name"]: w for w in fleet_client.get("/api/v1/workers").json()["items"]}
    assert items["alive"]["alive"] is True
    assert (items["alive"]["sites_held"], items["alive"]["devices_held"]) == (2, 5)
    assert items["alive"]["lag_s"] == 0.25
    assert items["alive"]["host"] == "h1"
    assert items["gone"]["alive"] is False
    assert items["gone"]["stopped_at"] is not None
    metrics = fleet_client.get("/metrics").text
    assert 'fleet_probe_worker_up{host="h1",worker="alive"} 1.0' in metrics
    assert 'fleet_probe_worker_up{host="h2",worker="gone"} 0.0' in metrics
    assert 'fleet_probe_worker_sites{worker="alive"} 2.0' in metrics
    board = fleet_client.get("/")
    assert board.status_code == 200
    assert "Probe workers" in board.text
    assert '<tr class="alive">' in board.text
    assert '<tr class="silent">' in board.text
