"""Two real ``fleet worker`` processes share a fleet of 200 devices (TCP peers on loopback) on
a real PostgreSQL through site leases: each takes half; kill -9 of one, and every device it held
is probed again within one interval plus the lease time; restarted, it takes its share back;
and no device is probed twice in an interval, counted from the stored results."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.database import Database
from fleet.settings import Settings
from tests import factories
from tests.conftest import TABLES, TEST_KEY, _execute, auth, run
from tests.dashboards import Peer, wait_for
from tests.e2e.processes import start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SITES, PER_SITE = 20, 10
INTERVAL_S, LEASE_S, HEARTBEAT_S = 3.0, 3.0, 1.0


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:  # PostgreSQL alone: leases need it
    url: str = request.getfixturevalue("postgres_url")
    run(_execute(url, f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
def fleet(settings: Settings, admin_token: str) -> Iterator[list[Peer]]:
    """20 sites of 10 devices, each probed by TCP on one of four peers."""
    peers = [Peer() for _ in range(4)]
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(admin_token))
        factories.country(client)
        model = factories.device_model(client, kind="router")
        ports = itertools.cycle(peer.port for peer in peers)
        for _ in range(SITES):
            site = factories.site(client)
            for _ in range(PER_SITE):
                factories.device(
                    client,
                    site=site["code"],
                    model=model["slug"],
                    probes=["tcp"],
                    management_address="127.0.0.1",
                    probe_port=next(ports),
                )
    yield peers
    for peer in peers:
        peer.cut()


class Worker:
    def __init__(self, name: str, url: str, folder: Path) -> None:
        self.name, self.url, self.folder = name, url, folder
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self) -> None:
        env = {
            **os.environ,
            "FLEET_DATABASE_URL": self.url,
            "FLEET_CREDENTIAL_KEYS": TEST_KEY,
            "FLEET_LOG_FORMAT": "json",
            "FLEET_LOG_LEVEL": "WARNING",
            "FLEET_ALERTS": "false",
            "FLEET_WORKER_NAME": self.name,
            "FLEET_PROBE_INTERVAL_S": str(INTERVAL_S),
            "FLEET_PROBE_JITTER_S": "0.2",
            "FLEET_PROBE_TIMEOUT_S": "2",
            "FLEET_PROBE_RETRIES": "0",
            "FLEET_PROBE_LEASE_S": str(LEASE_S),
            "FLEET_PROBE_HEARTBEAT_S": str(HEARTBEAT_S),
            "FLEET_RECONCILE_INTERVAL_S": "1",
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "fleet.cli", "worker"]
        self.process, self.output = start(args, self.folder, env)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def query(url: str, sql: str) -> list[Any]:
    async def read() -> list[Any]:
        db = Database(url)
        try:
            async with db.session() as session:
                return list(await session.execute(sa.text(sql)))
        finally:
            await db.dispose()

    return list(run(read()))


def held(url: str) -> dict[str, int]:
    """Sites held by each live worker, from the lease rows."""
    rows = query(
        url, "SELECT worker, count(*) FROM probe_lease WHERE expires_at > now() GROUP BY 1"
    )
    return {worker: int(n) for worker, n in rows if worker}


def test_two_workers_share_take_over_and_give_back(
    db_url: str, fleet: list[Peer], tmp_path: Path
) -> None:
    one, two = Worker("one", db_url, tmp_path / "one"), Worker("two", db_url, tmp_path / "two")
    try:
        one.start()
        two.start()
        wait_for(
            lambda: held(db_url) == {"one": SITES // 2, "two": SITES // 2},
            seconds=60,
            what=f"each worker to hold half the sites: {held(db_url)}",
        )
        time.sleep(2 * INTERVAL_S)
        one_sites = {
            int(site)
            for (site,) in query(db_url, "SELECT site_id FROM probe_lease WHERE worker = 'one'")
        }
        killed_at = datetime.now(UTC)
        one.kill()
        wait_for(
            lambda: held(db_url) == {"two": SITES},
            seconds=LEASE_S + 4 * HEARTBEAT_S + 5,
            what=f"the survivor to take every site: {held(db_url)}",
        )
        time.sleep(INTERVAL_S + 1)
        one.start()  # under the same name, as a restarted container would
        wait_for(
            lambda: held(db_url) == {"one": SITES // 2, "two": SITES // 2},
            seconds=4 * HEARTBEAT_S + 10,
            what=f"the restarted worker to take its share back: {held(db_url)}",
        )
        time.sleep(2 * INTERVAL_S)
    finally:
        one.stop()
        two.stop()
    results = query(
        db_url,
        "SELECT r.device_id, d.site_id, r.at FROM probe_result r"
        " JOIN device d ON d.id = r.device_id ORDER BY r.at",
    )
    times: dict[int, list[datetime]] = {}
    site_of: dict[int, int] = {}
    for device_id, site_id, at in results:
        times.setdefault(device_id, []).append(at)
        site_of[device_id] = site_id
    assert len(times) == SITES * PER_SITE
    # kill -9: every device of the dead worker probed again within an interval + the lease
    # (+ one heartbeat for the survivor's beat, + a second for the flush)
    bound = INTERVAL_S + LEASE_S + HEARTBEAT_S + 1.5
    late = {}
    for device_id, seen in times.items():
        if site_of[device_id] not in one_sites:
            continue
        after = [at for at in seen if at > killed_at]
        gap = (after[0] - killed_at).total_seconds() if after else None
        if gap is None or gap > bound:
            late[device_id] = gap
    assert late == {}, f"not probed again within {bound} s of the kill: {late}"
    # never twice in an interval (the jitter moves a round by at most 0.2 s)
    twice = [
        (device_id, round((b - a).total_seconds(), 2))
        for device_id, seen in times.items()
        for a, b in itertools.pairwise(seen)
        if (b - a).total_seconds() < INTERVAL_S - 0.5
    ]
    assert twice == [], f"probed twice in an interval: {twice[:10]} ({len(twice)} in all)"
