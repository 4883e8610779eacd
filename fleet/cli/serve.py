"""``fleet serve`` and the start-up it shares with ``fleet worker``."""

from __future__ import annotations

import asyncio
import sys

import click
import sqlalchemy as sa

from fleet import context
from fleet.access import tokens
from fleet.access.models import ApiToken
from fleet.access.roles import Role
from fleet.alerts import config as alert_config
from fleet.cli.common import (
    cipher_of,
    database,
    ensure_port_free,
    settings_of,
    site_configs_of,
)
from fleet.database import Database, advisory_xact_lock
from fleet.inventory import configs, sync
from fleet.inventory.files import Limits
from fleet.inventory.models import Site
from fleet.logging import configure, get_logger
from fleet.settings import Settings
from fleet.startup import check_keys
from fleet.upgrades import profiles

log = get_logger("fleet.cli")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--scheduler/--no-scheduler",
    default=None,
    help="Run the probe scheduler in this process (default: FLEET_SCHEDULER, on).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, scheduler: bool | None) -> None:
    """Serve the API (docs at /schema).

    Applies migrations first and, when the database has no sites, loads the fleet in
    FLEET_SITE_CONFIGS (default: ./site_configs).
    """
    import uvicorn

    from fleet.api.app import create_app

    settings = settings_of(ctx)
    if scheduler is not None:
        settings = settings.model_copy(update={"scheduler": scheduler})
    configure(settings.log_format, settings.log_level)
    ensure_port_free(host, port)
    asyncio.run(prepare(settings))
    log.info("serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/schema")
    app = create_app(settings)
    if settings.scheduler:
        from fleet.probes.gc_tuning import tune_for_polling

        tune_for_polling()
    # Open status streams never finish by themselves: give them a few seconds on shutdown.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )


async def prepare(settings: Settings) -> None:
    """Migrate, check the credential keys, load the sample, make the first admin token (last,
    so that it is not printed by a start that then fails)."""
    async with database(settings, migrated=True) as db:
        await check_keys(db, cipher_of(settings))
        if settings.load_sample_when_empty:
            await _load_sample(db, settings)
        if settings.bootstrap_admin_token:
            await _bootstrap_token(db)


async def _bootstrap_token(db: Database) -> None:
    """On a database without tokens, make an admin token and print it this once."""
    async with db.session(write=True) as session:
        await advisory_xact_lock(session, "fleet-bootstrap-token")  # one of several starting
        if await session.scalar(sa.select(sa.func.count()).select_from(ApiToken)):
            return
        with context.acting_as("serve"):
            _, secret = await tokens.create(
                session, name="bootstrap-admin", role=Role.admin, rate_limit_per_minute=0
            )
        await session.commit()
    click.echo(
        "An admin token was created; it is shown this once (store it, then make others with "
        "`fleet token create`):"
    )
    click.echo(f"  FLEET_TOKEN={secret}")
    sys.stdout.flush()


async def _load_sample(db: Database, settings: Settings) -> None:
    async with db.session(write=True) as session:
        await advisory_xact_lock(session, "fleet-load-sample")  # one of several starting
        if await session.scalar(sa.select(sa.func.count()).select_from(Site)):
            return
        folder = site_configs_of(settings)
        try:
            desired = configs.load(folder, Limits.of(settings))
            wanted, _ = profiles.load(folder, Limits.of(settings))
            alerting = alert_config.load(folder, Limits.of(settings))
            if alerting is not None:
                alert_config.check_keys(alerting, cipher_of(settings))
        except configs.ConfigError as exc:
            raise click.ClickException(f"{exc}\nnothing was loaded") from None
        plan = await sync.make_plan(session, desired, prune=False)
        with context.acting_as(sync.ACTOR):  # one request id for the whole load
            await sync.apply_plan(session, plan)
            await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
            if alerting is not None:
                await alert_config.sync(session, alerting, cipher_of(settings))
        await session.commit()
        log.info("sample_fleet_loaded", folder=str(folder), summary=plan.summary())
