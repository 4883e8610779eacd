"""What every command shares: its settings, the database opened and closed, the cipher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click

from fleet import migrate
from fleet.database import Database
from fleet.inventory import credentials
from fleet.settings import Settings


def settings_of(ctx: click.Context) -> Settings:
    """The settings ``main`` made from the environment and its options."""
    settings: Settings = ctx.find_root().obj
    return settings


@asynccontextmanager
async def database(settings: Settings, *, migrated: bool = False) -> AsyncIterator[Database]:
    """The database of ``settings``, disposed of on the way out; ``migrated`` applies the
    migrations first when FLEET_MIGRATE_ON_START is on."""
    if migrated and settings.migrate_on_start:
        await migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        yield db
    finally:
        await db.dispose()


def cipher_of(settings: Settings) -> credentials.Cipher:
    keys = settings.credential_keys.get_secret_value() if settings.credential_keys else None
    try:
        return credentials.Cipher(keys)
    except ValueError as exc:
        raise click.ClickException(f"FLEET_CREDENTIAL_KEYS: {exc}") from None
