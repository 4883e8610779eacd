"""What every command shares: its settings, the database opened and closed, the cipher."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
    db = Database.of(settings.database_url, settings.sqlite_busy_timeout_s)
    try:
        yield db
    finally:
        await db.dispose()


def cipher_of(settings: Settings) -> credentials.Cipher:
    keys = settings.credential_keys.get_secret_value() if settings.credential_keys else None
    try:
        return credentials.Cipher(keys)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def site_configs_of(settings: Settings) -> Path:
    """FLEET_SITE_CONFIGS, refused in one line when it is not a folder."""
    folder = settings.site_configs
    if not folder.is_dir():
        raise click.ClickException(
            f"FLEET_SITE_CONFIGS names {str(folder)!r}, which is not a folder; point it at a "
            "site_configs folder, or unset it to use the shipped sample"
        )
    return folder


def ensure_port_free(host: str, port: int) -> None:
    """Refuse in one line, before anything starts, when ``host:port`` cannot be listened on."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); stop what uses it or "
            "choose another with --port (make run PORT=...)"
        ) from None
