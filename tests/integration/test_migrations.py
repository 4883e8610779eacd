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
