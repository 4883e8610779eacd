"""The ``fleet`` command line."""

from __future__ import annotations

import asyncio
import csv
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from sqlmodel import col

from fleet import __version__, context, migrate
from fleet.access import tokens
from fleet.access.models import ApiToken
from fleet.access.roles import Role
from fleet.database import Database
from fleet.errors import FleetError
from fleet.inventory import configs, credentials, sync
from fleet.inventory.models import Country, Device, Site
from fleet.logging import configure, get_logger
from fleet.probes import targets
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.service import probe_once
from fleet.probes.types import Reading
from fleet.settings import Settings
from fleet.upgrades import assess, evaluation, profiles, workorders
from fleet.upgrades.models import WorkOrder

log = get_logger("fleet.cli")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


@main.command()
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

    settings = _settings(ctx)
    if scheduler is not None:
        settings = settings.model_copy(update={"scheduler": scheduler})
    configure(settings.log_format, settings.log_level)
    asyncio.run(_prepare(settings))
    log.info("serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/schema")
    # Open status streams never finish by themselves: give them a few seconds on shutdown.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )


async def _prepare(settings: Settings) -> None:
    if settings.migrate_on_start:
        await migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        await _check_keys(db, settings)
        if settings.bootstrap_admin_token:
            await _bootstrap_token(db)
        if settings.load_sample_when_empty:
            await _load_sample(db, settings)
    finally:
        await db.dispose()


def _cipher(settings: Settings) -> credentials.Cipher:
    keys = settings.credential_keys.get_secret_value() if settings.credential_keys else None
    try:
        return credentials.Cipher(keys)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


async def _check_keys(db: Database, settings: Settings) -> None:
    """Refuse to start when stored credentials could not be read."""
    cipher = _cipher(settings)
    async with db.session() as session:
        if not cipher.ready and await credentials.stored_secrets(session):
            raise click.ClickException(
                "the database holds credential secrets but FLEET_CREDENTIAL_KEYS is not set; "
                "refusing to start"
            )


async def _bootstrap_token(db: Database) -> None:
    """On a database without tokens, make an admin token and print it this once."""
    async with db.session(write=True) as session:
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
        if await session.scalar(sa.select(sa.func.count()).select_from(Site)):
            return
        if not settings.site_configs.is_dir():
            log.warning("no_site_configs", folder=str(settings.site_configs))
            return
        desired = configs.load(settings.site_configs)
        wanted, _ = profiles.load(settings.site_configs)
        plan = await sync.make_plan(session, desired, prune=False)
        await sync.apply_plan(session, plan)
        with context.acting_as(sync.ACTOR):
            await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
        await session.commit()
        log.info("sample_fleet_loaded", folder=str(settings.site_configs), summary=plan.summary())


@main.command()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve this worker's probe and scheduler metrics at http://HOST:PORT/metrics "
    "(behind FLEET_METRICS_TOKEN when set); off unless given.",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Address of the metrics."
)
@click.pass_context
def worker(ctx: click.Context, metrics_port: int | None, metrics_host: str) -> None:
    """Run the probe scheduler without the API (for deployments that separate them).

    Run one worker per database: schedules are not yet shared between workers.
    """
    settings = _settings(ctx)
    configure(settings.log_format, settings.log_level)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    exposed = None
    if metrics_port is not None:
        from fleet.metrics_server import MetricsServer

        try:
            exposed = MetricsServer(metrics_host, metrics_port, token)
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror}"
            ) from None
        log.info("metrics_served", url=f"http://{metrics_host}:{exposed.port}/metrics")

    async def run() -> None:
        await _prepare(
            settings.model_copy(
                update={"load_sample_when_empty": False, "bootstrap_admin_token": False}
            )
        )
        db = Database(settings.database_url)
        scheduler = ProbeScheduler(db, settings, _cipher(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await scheduler.start()
        try:
            await stop.wait()
        finally:
            await scheduler.stop()
            await db.dispose()

    try:
        asyncio.run(run())
    finally:
        if exposed is not None:
            exposed.stop()


@main.command()
@click.argument("device")
@click.pass_context
def probe(ctx: click.Context, device: str) -> None:
    """Run DEVICE's probes once and print the results (DEVICE: a serial or an id)."""
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")

    async def run() -> list[Reading]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                found = await session.scalar(
                    sa.select(col(Device.id)).where(
                        sa.or_(
                            col(Device.serial) == device,
                            col(Device.id) == (int(device) if device.isdigit() else -1),
                        )
                    )
                )
                if found is None:
                    raise click.ClickException(f"no device {device}")
                specs = await targets.load(session, _cipher(settings), [found])
            if not specs or not specs[0].kinds:
                why = (
                    "; ".join(specs[0].problems)
                    if specs
                    else "no probes, address or probe-able lifecycle"
                )
                raise click.ClickException(f"device {device} has no probe that can run ({why})")
            return await probe_once(specs[0], settings)
        finally:
            await db.dispose()

    for reading in asyncio.run(run()):
        facts = {
            "firmware": reading.firmware_version,
            "uptime_s": reading.uptime_seconds,
            "interfaces": len(reading.interfaces) or None,
            "http": reading.http_status,
        }
        shown = " ".join(f"{k}={v}" for k, v in facts.items() if v is not None)
        click.echo(
            f"{reading.kind:5} {reading.status.value:17} {reading.duration_ms:8.1f} ms  "
            f"{shown} {reading.reason}".rstrip()
        )


@main.command(name="sync")
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
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")
    try:
        desired = configs.load(folder)
        wanted, _ = profiles.load(folder)
        lines = asyncio.run(_sync(settings, desired, wanted, apply=mode == "apply", prune=prune))
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
    wanted: dict[str, profiles.LocatedProfile],
    *,
    apply: bool,
    prune: bool,
) -> list[str]:
    if settings.migrate_on_start:
        await migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session(write=apply) as session:
            plan = await sync.make_plan(session, desired, prune=prune)
            profile_changes = await profiles.plan(session, wanted, prune=prune)
            lines = [str(c) for c in profile_changes]
            lines += list(sync.iter_lines(plan))
            acting = [c for c in profile_changes if c.action != "keep"]
            if acting:
                lines[-1] += f" Profiles: {len(acting)} to create, change or delete."
            if apply and (not plan.empty or acting):
                await sync.apply_plan(session, plan)
                with context.acting_as(sync.ACTOR):
                    await profiles.apply(session, wanted, profile_changes)
                await session.commit()
                lines.append("Applied.")
            return lines
    finally:
        await db.dispose()


@main.command(name="export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def export_command(ctx: click.Context, folder: Path) -> None:
    """Write the database to FOLDER in the site_configs layout (a sync of it plans nothing)."""
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")

    async def run() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                counts = await sync.export(session, folder)
                counts["profile"] = await profiles.export(session, folder)
                return counts
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    click.echo("Exported " + ", ".join(f"{n} {k.replace('_', ' ')}(s)" for k, n in counts.items()))


@main.group()
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
@click.pass_context
def token_create(
    ctx: click.Context, name: str, role: str, countries: str | None, expires: str | None
) -> None:
    """Create an API token and print it (this once; only its hash is stored)."""
    settings = _settings(ctx.find_root())
    configure(settings.log_format, "WARNING")
    codes = [c.strip().upper() for c in countries.split(",") if c.strip()] if countries else None
    if codes and any(not re.fullmatch(r"[A-Z]{2}", c) for c in codes):
        raise click.BadParameter(
            "country codes are two letters, e.g. NE,ML", param_hint="--countries"
        )
    expires_at = _expiry(expires)

    async def run() -> str:
        if settings.migrate_on_start:
            await migrate.upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            async with db.session(write=True) as session:
                with context.acting_as("cli"):
                    _, secret = await tokens.create(
                        session, name=name, role=Role(role), countries=codes, expires_at=expires_at
                    )
                await session.commit()
                return secret
        finally:
            await db.dispose()

    try:
        secret = asyncio.run(run())
    except FleetError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(secret)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--cut-after", default=60.0, show_default=True, help="Seconds before the link drops.")
@click.option("--restore-after", default=90.0, show_default=True, help="Seconds it stays down.")
@click.option(
    "--snmp-port",
    default=16161,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="UDP port of every simulated device's SNMP agent.",
)
@click.option(
    "--ssh-port",
    default=2222,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="TCP port of the simulated routers' SSH servers.",
)
@click.option(
    "--probe-interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds between a device's probes; the probe timeout (half of it, at most 2 s) and "
    "the camera's flapping (silent one interval, answering one and a half) follow it.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    host: str,
    port: int,
    cut_after: float,
    restore_after: float,
    snmp_port: int,
    ssh_port: int,
    probe_interval: float,
) -> None:
    """Serve the sample fleet on simulated devices (real SNMP agents on 127.0.0.0/8).

    Uses a throw-away database. Every networked sample device answers SNMP at its own
    loopback address (routers SSH too); one border site loses its satellite link on a timeline
    (the device it is reached by goes down, the rest of the site unreachable) and comes back; a
    camera flaps and is damped.
    Watch /api/v1/status/sites and /api/v1/status/events.
    """
    from fleet.demo.run import run

    settings = _settings(ctx)
    configure(settings.log_format, settings.log_level)
    asyncio.run(
        run(
            host,
            port,
            cut_after,
            restore_after,
            settings.site_configs,
            snmp_port=snmp_port,
            ssh_port=ssh_port,
            probe_interval=probe_interval,
        )
    )


@main.command(name="assess")
@click.option("--country", default=None, metavar="CODE", help="Only this country's sites.")
@click.option("--site", default=None, metavar="CODE", help="Only this site.")
@click.pass_context
def assess_command(ctx: click.Context, country: str | None, site: str | None) -> None:
    """Assess sites against their profiles: record gaps, propose work, verify finished work."""
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")
    try:
        _, prices = (
            profiles.load(settings.site_configs) if settings.site_configs.is_dir() else ({}, None)
        )
    except configs.ConfigError as exc:
        raise click.ClickException(f"broken price list: {exc.problems[0]}") from None

    async def run() -> assess.Summary:
        db = Database(settings.database_url)
        try:
            async with db.session(write=True) as session:
                summary = await assess.run(session, prices, country=country, site=site)
                await session.commit()
                return summary
        finally:
            await db.dispose()

    summary = asyncio.run(run())
    click.echo(
        f"Assessed {summary.sites} site(s): {summary.opened} gap(s) opened, "
        f"{summary.still_open} still open, {summary.resolved} resolved; "
        f"{summary.work_orders_created} work order(s) proposed, {summary.verified} verified, "
        f"{summary.reopened} sent back."
    )
    for rule_type, count in sorted(summary.by_rule_type.items()):
        click.echo(f"  new gaps of {rule_type}: {count}")


@main.command(name="plan")
@click.option("--csv", "as_csv", is_flag=True, help="Write the open work orders as CSV.")
@click.option("--top", default=20, show_default=True, help="How many to list first.")
@click.pass_context
def plan_command(ctx: click.Context, as_csv: bool, top: int) -> None:
    """Open upgrade work: totals by country and programme, and what to do first (or CSV)."""
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")

    async def run() -> list[dict[str, Any]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                rows = await session.execute(
                    sa.select(WorkOrder, col(Site.code), col(Country.code))
                    .join(Site, col(WorkOrder.site_id) == col(Site.id))
                    .join(Country, col(Site.country_id) == col(Country.id))
                    .where(col(WorkOrder.state).in_(workorders.OPEN_STATES))
                    .order_by(col(WorkOrder.priority).desc(), col(WorkOrder.id))
                )
                return [workorders.public(o, s, c) for o, s, c in rows]
        finally:
            await db.dispose()

    orders = asyncio.run(run())
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(orders[0]) if orders else ["id"])
        writer.writeheader()
        writer.writerows(orders)
        return
    totals: dict[tuple[str, str], list[float]] = {}
    for order in orders:
        key = (order["country"], order["programme"] or "-")
        totals.setdefault(key, [0, 0.0])
        totals[key][0] += 1
        totals[key][1] += order["estimated_cost"]
    click.echo(f"{'country':8} {'programme':24} {'orders':>7} {'estimated cost':>16}")
    for (country_code, programme), (count, cost) in sorted(totals.items()):
        click.echo(f"{country_code:8} {programme:24} {int(count):7d} {cost:16,.2f}")
    click.echo(f"\nFirst {min(top, len(orders))} of {len(orders)} by priority:")
    for order in orders[:top]:
        click.echo(
            f"{order['priority']:7.1f}  #{order['id']:<5} {order['state']:11} {order['title']}"
        )


@main.command(name="evaluate")
@click.option("--days", default=30, show_default=True, help="Days before and after the work.")
@click.pass_context
def evaluate_command(ctx: click.Context, days: int) -> None:
    """Site availability before and after each verified work order."""
    settings = _settings(ctx)
    configure(settings.log_format, "WARNING")

    async def run() -> list[dict[str, Any]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return await evaluation.before_and_after(
                    session, evaluation.verified_orders(), days
                )
        finally:
            await db.dispose()

    def pct(value: float | None) -> str:
        return "   n/a" if value is None else f"{value:6.1%}"

    click.echo(f"{'order':>6} {'site':14} {'before':>7} {'after':>7}  title")
    for item in asyncio.run(run()):
        before, after = pct(item["availability_before"]), pct(item["availability_after"])
        click.echo(
            f"{item['work_order']:6d} {item['site']:14} {before:>7} {after:>7}  {item['title']}"
        )


@main.group(name="credentials")
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
    settings = _settings(ctx.find_root())
    cipher = _cipher(settings)
    if not cipher.ready:
        raise click.ClickException(
            "set FLEET_CREDENTIAL_KEYS first (new key first, old keys after)"
        )

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            async with db.session(write=True) as session:
                count = await credentials.rotate_all(session, cipher)
                await session.commit()
                return count
        finally:
            await db.dispose()

    try:
        count = asyncio.run(run())
    except credentials.NoKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Re-encrypted {count} credential secret(s) with the first key.")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command(name="upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply the schema migrations up to REVISION."""
    settings = _settings(ctx.find_root())
    asyncio.run(migrate.upgrade(settings.database_url, revision))
    click.echo(f"Database at {revision}.")


@db.command(name="check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Fail when the models and the migrated database disagree."""
    settings = _settings(ctx.find_root())
    differences = asyncio.run(migrate.pending_differences(settings.database_url))
    for difference in differences:
        click.echo(f"difference: {difference}", err=True)
    if differences:
        sys.exit(1)
    click.echo("Models and migrations agree.")


if __name__ == "__main__":  # pragma: no cover
    main()
