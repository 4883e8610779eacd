"""The ``fleet`` command line: ``main`` and its commands, one module per group."""

from __future__ import annotations

from typing import Any

import click

from fleet import __version__
from fleet.cli import admin, edge, inventory, probes, serve, upgrades
from fleet.cli.errors import FleetGroup
from fleet.settings import Settings


@click.group(cls=FleetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleet")
@click.option(
    "--database-url",
    metavar="URL",
    help="Database to use (default: FLEET_DATABASE_URL, else sqlite+aiosqlite:///fleet.db).",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """fleet: the inventory of a police network's sites, devices and links.

    Settings come from FLEET_* environment variables (see the README).
    """
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    ctx.obj = Settings(**overrides)


for command in (
    serve.serve,
    inventory.sync_command,
    inventory.export_command,
    admin.token,
    probes.worker,
    edge.edge,
    probes.probe,
    probes.demo,
    upgrades.assess_command,
    upgrades.plan_command,
    upgrades.evaluate_command,
    admin.credentials_group,
    admin.db,
):
    main.add_command(command)

__all__ = ["main"]
