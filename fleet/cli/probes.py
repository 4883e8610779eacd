"""``fleet worker``, ``fleet probe`` and ``fleet demo``: probing without the API, once, or on
simulated devices."""

from __future__ import annotations

import asyncio
import signal

import click
import sqlalchemy as sa
from sqlmodel import col

from fleet.alerts.runner import AlertRunner
from fleet.cli.common import (
    cipher_of,
    database,
    ensure_port_free,
    settings_of,
    site_configs_of,
)
from fleet.cli.serve import prepare
from fleet.inventory.models import Device
from fleet.logging import configure, get_logger
from fleet.probes import targets
from fleet.probes.gc_tuning import tune_for_polling
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.service import probe_once
from fleet.probes.types import Reading
from fleet.settings import Settings

log = get_logger("fleet.cli")


@click.command()
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
    """Run the probe scheduler without the API (for deployments that separate them), and
    the alerts' evaluation and delivery with it (FLEET_ALERTS, on by default).

    On PostgreSQL, every worker on the database shares the fleet through site leases
    (FLEET_PROBE_LEASES); on SQLite, run one scheduler per database.
    """
    settings = settings_of(ctx)
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
    try:
        asyncio.run(_work(settings))
    finally:
        if exposed is not None:
            exposed.stop()


async def _work(settings: Settings) -> None:
    await prepare(
        settings.model_copy(
            update={"load_sample_when_empty": False, "bootstrap_admin_token": False}
        )
    )
    async with database(settings) as db:
        scheduler = ProbeScheduler(db, settings, cipher_of(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await scheduler.start()
        alerts = AlertRunner(db, settings, cipher_of(settings)) if settings.alerts else None
        if alerts is not None:
            alerts.start()
        tune_for_polling()
        try:
            await stop.wait()
        finally:
            if alerts is not None:
                await alerts.stop()
            await scheduler.stop()


@click.command()
@click.argument("device")
@click.pass_context
def probe(ctx: click.Context, device: str) -> None:
    """Run DEVICE's probes once and print the results (DEVICE: a serial or an id)."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")
    for reading in asyncio.run(_probe_once(settings, device)):
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


async def _probe_once(settings: Settings, device: str) -> list[Reading]:
    async with database(settings) as db:
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
            specs = await targets.load(session, cipher_of(settings), [found])
        if not specs or not specs[0].kinds:
            why = (
                "; ".join(specs[0].problems)
                if specs
                else "no probes, address or probe-able lifecycle"
            )
            raise click.ClickException(f"device {device} has no probe that can run ({why})")
        return await probe_once(specs[0], settings)


@click.command()
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

    settings = settings_of(ctx)
    configure(settings.log_format, settings.log_level)
    folder = site_configs_of(settings)
    ensure_port_free(host, port)
    asyncio.run(
        run(
            host,
            port,
            cut_after,
            restore_after,
            folder,
            snmp_port=snmp_port,
            ssh_port=ssh_port,
            probe_interval=probe_interval,
        )
    )
