"""``fleet sync`` and ``fleet export``: the inventory to and from configuration as code."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from fleet import context
from fleet.alerts import config as alert_config
from fleet.cli.common import cipher_of, database, settings_of
from fleet.cli.progress import progress_on_terminal
from fleet.errors import FleetError
from fleet.inventory import configs, sync
from fleet.inventory.files import Limits
from fleet.logging import configure
from fleet.progress import Progress
from fleet.settings import Settings
from fleet.upgrades import profiles


@click.command(name="sync")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--plan", "mode", flag_value="plan", default=True, help="Print the changes only (default)."
)
@click.option("--apply", "mode", flag_value="apply", help="Make the changes, in one transaction.")
@click.option("--prune", is_flag=True, help="Also delete what the files no longer name.")
@click.pass_context
def sync_command(ctx: click.Context, folder: Path, mode: str, prune: bool) -> None:
    """Compare FOLDER (the site_configs layout) with the database.

    --plan prints what would be created (+), changed (~) and deleted (-); --apply makes it so
    and is idempotent. Objects absent from the files are only deleted with --prune. A broken
    file stops everything and names file, line and reason; nothing is written.
    """
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")
    try:
        with progress_on_terminal() as progress:
            desired = configs.load(folder, Limits.of(settings), progress)
            wanted, _ = profiles.load(folder, Limits.of(settings))
            alerting = alert_config.load(folder, Limits.of(settings))
            if alerting is not None:
                alert_config.check_keys(alerting, cipher_of(settings))
            lines = asyncio.run(
                _sync(
                    settings,
                    desired,
                    (wanted, alerting),
                    progress,
                    apply=mode == "apply",
                    prune=prune,
                )
            )
    except configs.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{len(exc.problems)} problem(s); nothing was written.", err=True)
        sys.exit(1)
    except FleetError as exc:
        click.echo(f"error: {exc.detail}; nothing was written.", err=True)
        sys.exit(1)
    for line in lines:
        click.echo(line)


async def _sync(
    settings: Settings,
    desired: configs.Desired,
    also: tuple[dict[str, profiles.LocatedProfile], alert_config.Wanted | None],
    progress: Progress,
    *,
    apply: bool,
    prune: bool,
) -> list[str]:
    wanted, alerting = also
    cipher = cipher_of(settings)
    async with database(settings, migrated=True) as db, db.session(write=apply) as session:
        plan = await sync.make_plan(session, desired, prune=prune)
        profile_changes = await profiles.plan(session, wanted, prune=prune)
        alert_changes = (
            []
            if alerting is None
            else await alert_config.plan(session, alerting, cipher, prune=prune)
        )
        lines = [str(c) for c in profile_changes] + [str(c) for c in alert_changes]
        lines += list(sync.iter_lines(plan))
        acting = [c for c in profile_changes if c.action != "keep"]
        if acting:
            lines[-1] += f" Profiles: {len(acting)} to create, change or delete."
        alerts_acting = [c for c in alert_changes if c.action != "keep"]
        if alerts_acting:
            lines[-1] += (
                f" Alert rules and channels: {len(alerts_acting)} to create, change or delete."
            )
        if apply and (not plan.empty or acting or alerts_acting):
            with context.acting_as(sync.ACTOR):  # one request id for the whole run
                await sync.apply_plan(session, plan, progress)
                await profiles.apply(session, wanted, profile_changes)
                if alerting is not None:
                    await alert_config.apply(session, alerting, alert_changes, cipher)
            await session.commit()
            lines.append("Applied.")
        return lines


@click.command(name="export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def export_command(ctx: click.Context, folder: Path) -> None:
    """Write the database to FOLDER in the site_configs layout (a sync of it plans nothing)."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")

    async def run(progress: Progress) -> dict[str, int]:
        async with database(settings) as db, db.session() as session:
            counts = await sync.export(session, folder, progress)
            counts["profile"] = await profiles.export(session, folder)
            return counts

    with progress_on_terminal() as progress:
        counts = asyncio.run(run(progress))
    click.echo("Exported " + ", ".join(f"{n} {k.replace('_', ' ')}(s)" for k, n in counts.items()))
