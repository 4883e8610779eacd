"""``fleet token``, ``fleet credentials`` and ``fleet db``: tokens, keys and the schema."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta

import click

from fleet import context, migrate
from fleet.access import tokens
from fleet.access.roles import Role
from fleet.cli.common import cipher_of, database, settings_of
from fleet.errors import FleetError
from fleet.inventory import credentials
from fleet.logging import configure


@click.group()
def token() -> None:
    """API token commands."""


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([dh])", value)
    if match:
        amount = int(match.group(1))
        delta = timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)
        return datetime.now(UTC) + delta
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use a duration such as 90d or 12h, or an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@token.command(name="create")
@click.option("--name", required=True, help="A unique name (it appears in the change log).")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="What the token may do.",
)
@click.option(
    "--countries",
    default=None,
    metavar="CODES",
    help="Comma-separated country codes the token is limited to (default: all).",
)
@click.option(
    "--expires", default=None, metavar="WHEN", help="90d, 12h or an ISO date (default: never)."
)
@click.option(
    "--site",
    "sites",
    multiple=True,
    metavar="CODE",
    help="A site an edge token serves (repeat for several; required with --role edge, "
    "refused with any other role). Central schedulers leave these sites to the edge poller.",
)
@click.pass_context
def token_create(
    ctx: click.Context,
    name: str,
    role: str,
    countries: str | None,
    expires: str | None,
    sites: tuple[str, ...],
) -> None:
    """Create an API token and print it (this once; only its hash is stored)."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")
    codes = [c.strip().upper() for c in countries.split(",") if c.strip()] if countries else None
    if codes and any(not re.fullmatch(r"[A-Z]{2}", c) for c in codes):
        raise click.BadParameter(
            "country codes are two letters, e.g. NE,ML", param_hint="--countries"
        )
    expires_at = _expiry(expires)

    async def run() -> str:
        async with database(settings, migrated=True) as db, db.session(write=True) as session:
            with context.acting_as("cli"):
                _, secret = await tokens.create(
                    session,
                    name=name,
                    role=Role(role),
                    countries=codes,
                    expires_at=expires_at,
                    sites=list(sites) or None,
                )
            await session.commit()
            return secret

    try:
        secret = asyncio.run(run())
    except FleetError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(secret)


@click.group(name="credentials")
def credentials_group() -> None:
    """Credential profile keys."""


@credentials_group.command(name="new-key")
def credentials_new_key() -> None:
    """Print a new key for FLEET_CREDENTIAL_KEYS (put it first to encrypt with it)."""
    click.echo(credentials.new_key())


@credentials_group.command(name="rotate")
@click.pass_context
def credentials_rotate(ctx: click.Context) -> None:
    """Re-encrypt every stored secret with the first key of FLEET_CREDENTIAL_KEYS.

    Put the new key first and keep the old ones after it; after the rotation the old keys can
    be removed.
    """
    settings = settings_of(ctx)
    cipher = cipher_of(settings)
    if not cipher.ready:
        raise click.ClickException(
            "set FLEET_CREDENTIAL_KEYS first (new key first, old keys after)"
        )

    async def run() -> int:
        async with database(settings) as db, db.session(write=True) as session:
            count = await credentials.rotate_all(session, cipher)
            await session.commit()
            return count

    try:
        count = asyncio.run(run())
    except credentials.NoKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Re-encrypted {count} credential secret(s) with the first key.")


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command(name="upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply the schema migrations up to REVISION."""
    settings = settings_of(ctx)
    asyncio.run(migrate.upgrade(settings.database_url, revision))
    click.echo(f"Database at {revision}.")


@db.command(name="check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Fail when the models and the migrated database disagree."""
    settings = settings_of(ctx)
    differences = asyncio.run(migrate.pending_differences(settings.database_url))
    for difference in differences:
        click.echo(f"difference: {difference}", err=True)
    if differences:
        sys.exit(1)
    click.echo("Models and migrations agree.")
