"""Schema migrations (Alembic) run from code: ``fleet db upgrade`` and the service start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import fleet.schema  # noqa: F401
from fleet.database import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK = text("SELECT pg_advisory_lock(hashtext(:name))")
UNLOCK = text("SELECT pg_advisory_unlock(hashtext(:name))")


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


#: The advisory lock that makes processes starting together on one PostgreSQL database
#: migrate one after the other (the later ones find nothing left to do).
MIGRATE_LOCK = "fleet-migrate"


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                await connection.execute(LOCK, {"name": MIGRATE_LOCK})
                await connection.commit()  # a session's lock: held until unlocked below

            def _upgrade(sync_connection: Connection) -> None:
                config = alembic_config(url)
                config.attributes["connection"] = sync_connection
                command.upgrade(config, revision)

            try:
                await connection.run_sync(_upgrade)
                await connection.commit()
            finally:
                if postgres:
                    await connection.rollback()
                    await connection.execute(UNLOCK, {"name": MIGRATE_LOCK})
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
