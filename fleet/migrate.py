"""Schema migrations (Alembic) run from code: ``fleet db upgrade`` and the service start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import fleet.schema  # noqa: F401
from fleet.database import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def _upgrade(sync_connection: Connection) -> None:
                config = alembic_config(url)
                config.attributes["connection"] = sync_connection
                command.upgrade(config, revision)

            await connection.run_sync(_upgrade)
            await connection.commit()
    finally:
        await engine.dispose()


async def pending_differences(url: str) -> list[Any]:
    """What the models have that the migrated database lacks (empty when they agree)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def _compare(sync_connection: Connection) -> list[Any]:
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return list(compare_metadata(context, SQLModel.metadata))

            return await connection.run_sync(_compare)
    finally:
        await engine.dispose()
