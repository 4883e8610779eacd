"""Needs assessment at scale: a generated fleet of 10,000 sites and 200,000 devices (with probe
status) is assessed in one pass, on SQLite and on PostgreSQL.

Printed, per database: the time to just read the rows the assessment reads (the floor), the
time of the first full assessment (which opens every gap and proposes every work order), the
time of a second one (steady state: nothing new), and their ratios to the floor. Target: the
assessment within 3x of the read floor. For the first one, which writes about three rows a gap,
it also prints the write floor: the time the database alone takes to insert the rows that
assessment wrote (``INSERT ... SELECT`` from a copy, rolled back). Last, the time to assess
one site of that fleet, as after a change to it.

    .venv/bin/python bench/assessment_scale.py [--sites 10000] [--devices-per-site 20]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Not a test: it takes a few minutes. The PostgreSQL run makes and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from fleet import bulk, migrate
from fleet.database import Database, create_engine
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.probes.models import ObjectStatus, StateEvent
from fleet.upgrades import assess, profiles

ROOT = Path(__file__).resolve().parents[1]
KINDS = [
    "camera",
    "camera",
    "camera",
    "fingerprint_scanner",
    "document_reader",
    "router",
    "switch",
    "firewall",
    "satellite_modem",
    "lte_modem",
    "workstation",
    "workstation",
    "ups",
]
SITE_KINDS = ["border_crossing_land"] * 6 + [
    "border_crossing_air",
    "border_crossing_sea",
    "national_bureau",
    "regional_bureau",
]


def _version(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"


def _loopback(n: int) -> str:
    return f"127.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


async def generate(db: Database, sites: int, per_site: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    async with db.session(write=True) as session:
        await session.execute(
            sa.insert(Country),
            [
                {
                    "code": f"{chr(65 + i // 26)}{chr(65 + i % 26)}",
                    "name": f"Country {i}",
                    "region": "Sahel",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(10)
            ],
        )
        models: list[dict[str, Any]] = []
        for i in range(60):
            kind = KINDS[i % len(KINDS)]
            models.append(
                {
                    "slug": f"m{i}",
                    "manufacturer": "Vendor",
                    "model": f"M{i}",
                    "kind": kind,
                    "minimum_firmware": f"{rng.randint(1, 9)}.{rng.randint(0, 12)}.0",
                    "end_of_support": date(2024 + i % 6, 1 + i % 12, 1) if i % 4 == 0 else None,
                    "snmp_oids": {},
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await session.execute(sa.insert(DeviceModel), models)
        await session.execute(
            sa.insert(Site),
            [
                {
                    "code": f"S{i:05d}",
                    "name": f"Site {i}",
                    "kind": SITE_KINDS[i % len(SITE_KINDS)],
                    "country_id": 1 + i % 10,
                    "latitude": 10 + (i % 100) / 10,
                    "longitude": (i % 300) / 10,
                    "criticality": 1 + i % 5,
                    "lifecycle": "active",
                    "timezone": "UTC",
                    "tags": [],
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(sites)
            ],
        )
        model_ids_by_kind: dict[str, list[int]] = {}
        for i, m in enumerate(models, start=1):
            model_ids_by_kind.setdefault(m["kind"], []).append(i)
        batch: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        device_id = 0
        for site in range(1, sites + 1):
            for j in range(per_site):
                device_id += 1
                kind = KINDS[(site + j) % len(KINDS)]
                batch.append(
                    {
                        "site_id": site,
                        "model_id": rng.choice(model_ids_by_kind[kind]),
                        "serial": f"SN{device_id:08d}",
                        "lifecycle": "active" if j % 17 else "faulty",
                        "firmware_version": _version(rng),
                        "management_address": _loopback(device_id),
                        "probes": ["snmp"],
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                statuses.append(
                    {
                        "object_type": "device",
                        "object_id": device_id,
                        "site_id": site,
                        "state": "up",
                        "since": now,
                        "detail": {"health": "up"},
                        "firmware_observed": f"{rng.randint(1, 9)}.{rng.randint(0, 12)}.0",
                        "last_ok_at": now - timedelta(hours=rng.choice([1, 2, 30])),
                    }
                )
            if len(batch) >= 20_000:
                await session.execute(sa.insert(Device), batch)
                await session.execute(sa.insert(ObjectStatus), statuses)
                batch, statuses = [], []
        if batch:
            await session.execute(sa.insert(Device), batch)
            await session.execute(sa.insert(ObjectStatus), statuses)
        await session.execute(
            sa.insert(Link),
            [
                {
                    "site_id": s,
                    "circuit_id": f"C{s:05d}-{k}",
                    "medium": "satellite" if k == 0 else "lte",
                    "provider": "P",
                    "bandwidth_kbps": 2048 if k == 0 else 1024,
                    "encrypted": s % 9 != 0,
                    "role": "primary" if k == 0 else "backup",
                    "lifecycle": "active",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for s in range(1, sites + 1)
                for k in range(1 + (s % 3 == 0))
            ],
        )
        await session.execute(
            sa.insert(StateEvent),
            [
                {
                    "at": now - timedelta(days=rng.randint(1, 20), hours=h),
                    "object_type": "site",
                    "object_id": s,
                    "object_key": f"S{s - 1:05d}",
                    "site_id": s,
                    "country_code": "AA",
                    "old_state": "connected",
                    "new_state": "disconnected" if h % 2 else "connected",
                    "cause": "bench",
                }
                for s in range(1, sites + 1)
                for h in range(4)
            ],
        )
        wanted, _ = profiles.load(ROOT / "site_configs")
        await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
        await session.commit()
    return {"sites": sites, "devices": device_id}


class Reads:
    """Records the SELECT statements an assessment sends (with their parameters), to be sent
    again on their own: the read floor is the time of exactly the assessment's reads."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.statements: list[tuple[Any, Any]] = []

    def _record(
        self, _connection: Any, clause: Any, multiparams: Any, params: Any, *_: Any
    ) -> None:
        if isinstance(clause, sa.Select) and "nextval" not in str(clause):
            self.statements.append((clause, multiparams[0] if multiparams else params or None))

    def __enter__(self) -> Reads:
        event.listen(self.engine, "before_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_execute", self._record)


async def assessment_reads(db: Database) -> list[tuple[Any, Any]]:
    """The reads of an assessment of the database as it is (run, then rolled back)."""
    _, prices = profiles.load(ROOT / "site_configs")
    with Reads(db) as reads:
        async with db.session(write=True) as session:
            await assess.run(session, prices)
            await session.rollback()
    return reads.statements


async def read_floor(db: Database, statements: list[tuple[Any, Any]]) -> float:
    """Send the assessment's SELECTs again and fetch every row, through a connection (no ORM
    session) and with the garbage collector held off as the assessment does: the same rows,
    the same plans, the same conversion of values, nothing else."""
    started = time.perf_counter()
    with bulk.collector_held():  # as the assessment holds it
        async with db.engine.connect() as connection:
            for statement, params in statements:
                (await connection.execute(statement, params)).all()
    return time.perf_counter() - started


WRITTEN = ("gap", "work_order", "work_order_journal", "site_assessment")  # in foreign-key order


async def write_floor(db: Database) -> tuple[dict[str, float], int]:
    """The database's own cost of the rows the first assessment wrote: in a transaction rolled
    back at the end, those rows are copied aside, deleted, and put back with one
    ``INSERT ... SELECT`` a table (every index, constraint and foreign-key check, no Python
    and no driver round trip per row); the time of each table's insert, and how many rows."""
    async with db.session(write=True) as session:
        connection = await session.connection()
        rows = 0
        for table in WRITTEN:
            await connection.execute(
                sa.text(f"CREATE TEMPORARY TABLE copy_{table} AS SELECT * FROM {table}")
            )
            rows += int(await connection.scalar(sa.text(f"SELECT count(*) FROM copy_{table}")))
        for table in reversed(WRITTEN):
            await connection.execute(sa.text(f"DELETE FROM {table}"))
        took: dict[str, float] = {}
        for table in WRITTEN:
            started = time.perf_counter()
            await connection.execute(sa.text(f"INSERT INTO {table} SELECT * FROM copy_{table}"))
            took[table] = time.perf_counter() - started
        await session.rollback()
    if db.engine.dialect.name == "postgresql":
        # the rolled-back copies are dead rows in the tables and their indexes until vacuumed,
        # which autovacuum would do soon: clean up now, not in the next measurements
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text(f"VACUUM ANALYZE {', '.join(WRITTEN)}"))
    return took, rows


async def timed_assessment(db: Database) -> tuple[float, assess.Summary]:
    _, prices = profiles.load(ROOT / "site_configs")
    started = time.perf_counter()
    async with db.session(write=True) as session:
        summary = await assess.run(session, prices)
        await session.commit()
    return time.perf_counter() - started, summary


async def settle(db: Database) -> None:
    """On PostgreSQL, vacuum and analyze the database, as autovacuum does soon after bulk
    writes: measured straight after the runs above, before it had, one site took about 100 ms
    instead of 10 (plans made without statistics of the freshly loaded tables)."""
    if db.engine.dialect.name == "postgresql":
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text("VACUUM ANALYZE"))


async def one_site_times(db: Database, sites: int, count: int = 20) -> list[float]:
    """The time to assess one site (and commit), for ``count`` sites spread over the fleet: the
    assessment that runs after a change to a site."""
    _, prices = profiles.load(ROOT / "site_configs")
    times = []
    for i in range(count):
        code = f"S{i * sites // count:05d}"
        started = time.perf_counter()
        async with db.session(write=True) as session:
            await assess.run(session, prices, site=code)
            await session.commit()
        times.append(time.perf_counter() - started)
    return times


async def bench(url: str, label: str, sites: int, per_site: int) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        started = time.perf_counter()
        made = await generate(db, sites, per_site)
        took = time.perf_counter() - started
        sizes = f"{made['sites']:,} sites, {made['devices']:,} devices"
        print(f"[{label}] generated {sizes} in {took:.1f} s")
        reads = await assessment_reads(db)
        floor_first = min([await read_floor(db, reads) for _ in range(3)])
        first, summary = await timed_assessment(db)
        tables, rows = await write_floor(db)
        written = sum(tables.values())
        reads = await assessment_reads(db)
        floor_second = min([await read_floor(db, reads) for _ in range(3)])
        second, again = await timed_assessment(db)
        print(
            f"[{label}] read floor ({len(reads)} SELECTs of the assessment, sent again): "
            f"{floor_first:.2f} s before the first run, {floor_second:.2f} s before the second"
        )
        print(
            f"[{label}] first assessment: {first:.2f} s = {first / floor_first:.2f}x its floor "
            f"({summary.opened:,} gaps opened, {summary.work_orders_created:,} work orders)"
        )
        print(
            f"[{label}] write floor (the {rows:,} rows it wrote, inserted again by the database "
            f"alone): {written:.2f} s = {written / floor_first:.2f}x the read floor; the first "
            f"assessment is {first / (floor_first + written):.2f}x read + write floor"
        )
        print(
            f"[{label}] write floor by table: "
            + ", ".join(f"{table} {seconds:.2f} s" for table, seconds in tables.items())
        )
        print(
            f"[{label}] second assessment: {second:.2f} s = {second / floor_second:.2f}x its "
            f"floor ({again.opened} opened, {again.still_open:,} still open)"
        )
        await settle(db)
        one = sorted(await one_site_times(db, sites))
        print(
            f"[{label}] one site's assessment, committed ({len(one)} sites across the fleet): "
            f"median {1000 * statistics.median(one):.1f} ms, max {1000 * one[-1]:.1f} ms"
        )
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--devices-per-site", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        await bench(
            f"sqlite+aiosqlite:///{folder}/bench.db", "sqlite", args.sites, args.devices_per_site
        )
    if args.skip_postgres:
        return
    name = f"fleet_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        await bench(url, "postgresql", args.sites, args.devices_per_site)
    finally:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
