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
