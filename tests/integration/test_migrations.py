"""Migrations build the schema from empty on both backends, and agree with the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleet import migrate
from fleet.database import create_engine
from tests.conftest import _execute


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_sqlite_upgrade_from_empty_matches_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    asyncio.run(migrate.upgrade(url))
    assert {"country", "site", "device_model", "device", "link", "change_record"} <= asyncio.run(
        _tables(url)
    )
    assert asyncio.run(migrate.pending_differences(url)) == []
    asyncio.run(migrate.upgrade(url))  # a second upgrade is a no-op


@pytest.mark.postgres
def test_postgres_upgrade_from_empty_matches_models(postgres_url: str) -> None:
    # An empty schema of its own inside the suite's database.
    asyncio.run(
        _execute(postgres_url, "DROP SCHEMA IF EXISTS fresh CASCADE", "CREATE SCHEMA fresh")
    )
    try:
        asyncio.run(_upgrade_in_schema(postgres_url, "fresh"))
    finally:
        asyncio.run(_execute(postgres_url, "DROP SCHEMA IF EXISTS fresh CASCADE"))


async def _upgrade_in_schema(url: str, schema: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.connect() as connection:

            def run(sync_connection: sa.Connection) -> None:
                config = migrate.alembic_config(url)
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "head")
                tables = set(sa.inspect(sync_connection).get_table_names(schema=schema))
                assert {"country", "site", "device", "link", "change_record"} <= tables
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                assert compare_metadata(context, SQLModel.metadata) == []

            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


def test_site_assessment_carries_over_when_open_gaps_were_last_seen(tmp_path: Path) -> None:
    """0006 moves ``last_seen`` of open gaps to one row per site: the latest of them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    asyncio.run(migrate.upgrade(url, "0005"))
    now = "2026-11-01 10:00:00.000000"
    gap = (
        "INSERT INTO gap (id, site_id, profile, profile_version, rule_id, rule_type, subject, "
        "severity, work, required, actual, quantity, first_seen, last_seen, resolved_at) VALUES "
        "({id}, 1, 'p', 1, 'r{id}', 'min_devices', 'site', 'high', 'install', '1', '0', 1, "
        "'{now}', '{seen}', {resolved})"
    )
    asyncio.run(
        _execute(
            url,
            f"INSERT INTO country (id, code, name, region, version, created_at, updated_at) "
            f"VALUES (1, 'NE', 'Niger', 'Sahel', 1, '{now}', '{now}')",
            f"INSERT INTO site (id, code, name, kind, country_id, latitude, longitude, "
            f"criticality, lifecycle, timezone, tags, version, created_at, updated_at) VALUES "
            f"(1, 'NE-BCL-01', 'Post', 'border_crossing_land', 1, 12.8, 1.7, 3, 'active', 'UTC', "
            f"'[]', 1, '{now}', '{now}')",
            gap.format(id=1, now=now, seen="2026-11-02 10:00:00.000000", resolved="NULL"),
            gap.format(id=2, now=now, seen="2026-11-03 10:00:00.000000", resolved="NULL"),
            gap.format(id=3, now=now, seen="2026-11-09 10:00:00.000000", resolved=f"'{now}'"),
        )
    )
    asyncio.run(migrate.upgrade(url))

    async def rows() -> list[tuple[object, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    sa.text("SELECT site_id, assessed_at FROM site_assessment")
                )
                return [tuple(row) for row in result]
        finally:
            await engine.dispose()

    assert asyncio.run(rows()) == [(1, "2026-11-03 10:00:00.000000")]


async def _alembic(url: str, direction: str, revision: str) -> None:
    from alembic import command

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def run(sync_connection: sa.Connection) -> None:
                config = migrate.alembic_config(url)
                config.attributes["connection"] = sync_connection
                getattr(command, direction)(config, revision)

            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


async def _observed(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                sa.text(
                    "SELECT object_id, firmware_observed, last_ok_at FROM object_status "
                    "ORDER BY object_id"
                )
            )
            return [(i, f, None if t is None else str(t)[:26]) for i, f, t in result]
    finally:
        await engine.dispose()


async def _details(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                sa.select(sa.column("detail", sa.JSON()))
                .select_from(sa.table("object_status"))
                .order_by(sa.text("object_id"))
            )
            return [row[0] for row in result]
    finally:
        await engine.dispose()


def _observed_round_trip(url: str) -> None:
    """0008 moves a device's observed firmware and last success from ``detail`` to columns,
    exact to the microsecond, and its downgrade puts them back."""
    asyncio.run(migrate.upgrade(url, "0007"))
    row = (
        "INSERT INTO object_status (object_type, object_id, site_id, state, since, detail) "
        "VALUES ('{kind}', {id}, 1, 'up', '2026-11-01 10:00:00', '{detail}')"
    )
    asyncio.run(
        _execute(
            url,
            row.format(
                kind="device",
                id=1,
                detail='{"health": "up", "firmware": "15.2", '
                '"last_ok_at": "2026-11-01T10:14:59.250000+00:00"}',
            ),
            row.format(kind="device", id=2, detail='{"health": "unknown"}'),
            row.format(kind="site", id=3, detail='{"devices": {"up": 1}}'),
        )
    )
    asyncio.run(migrate.upgrade(url))
    assert asyncio.run(_observed(url)) == [
        (1, "15.2", "2026-11-01 10:14:59.250000"),
        (2, None, None),
        (3, None, None),
    ]
    assert asyncio.run(_details(url)) == [
        {"health": "up"},
        {"health": "unknown"},
        {"devices": {"up": 1}},
    ]
    asyncio.run(_alembic(url, "downgrade", "0007"))
    first, second, site = asyncio.run(_details(url))
    assert first["firmware"] == "15.2"
    assert first["last_ok_at"].startswith("2026-11-01T10:14:59.250000")
    assert second == {"health": "unknown", "firmware": None, "last_ok_at": None}
    assert site == {"devices": {"up": 1}}
    asyncio.run(migrate.upgrade(url))
    assert asyncio.run(_observed(url))[0] == (1, "15.2", "2026-11-01 10:14:59.250000")


def test_observed_columns_carry_over_and_back_on_sqlite(tmp_path: Path) -> None:
    _observed_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'observed.db'}")


@pytest.mark.postgres
def test_observed_columns_carry_over_and_back_on_postgres(postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL

    name = "fleet_test_observed"
    asyncio.run(_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True))
    asyncio.run(_execute(PG_URL, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        _observed_round_trip(url)
    finally:
        asyncio.run(
            _execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True)
        )
