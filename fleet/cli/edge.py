"""``fleet edge``: the edge poller, at a site or a hub, for the sites of its edge token."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from fleet.cli.common import settings_of
from fleet.edge.buffer import EdgeStore
from fleet.edge.central import Central
from fleet.edge.poller import EdgePoller
from fleet.inventory.credentials import Cipher
from fleet.logging import configure, get_logger
from fleet.settings import Settings

log = get_logger("fleet.cli")


@click.command()
@click.option("--central", metavar="URL", help="The central service (FLEET_EDGE_CENTRAL_URL).")
@click.option(
    "--token",
    metavar="TOKEN",
    help="The edge token (FLEET_EDGE_TOKEN; the environment keeps it out of the process list).",
)
@click.option(
    "--site",
    "sites",
    multiple=True,
    metavar="CODE",
    help="A site to probe, repeat for several (FLEET_EDGE_SITES; default: every site of the "
    "token).",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The edge's SQLite file (FLEET_EDGE_DATA, default fleet-edge.db).",
)
@click.pass_context
def edge(
    ctx: click.Context,
    central: str | None,
    token: str | None,
    sites: tuple[str, ...],
    data: Path | None,
) -> None:
    """Run an edge poller: probe the token's sites' devices here, buffer the rounds and send
    them to central when it can be reached.

    The targets (credentials included, encrypted with FLEET_EDGE_KEY) and the buffer live in
    the SQLite file and survive a restart; the buffer keeps at most FLEET_EDGE_BUFFER_MAX_ROWS
    rounds, none older than FLEET_EDGE_BUFFER_MAX_AGE_S (a day), dropping and counting the
    oldest. Rounds go to central oldest first, in batches of FLEET_EDGE_BATCH_SIZE, and each
    is stored there once however often it is sent.
    """
    settings = _with_options(settings_of(ctx), central, token, sites, data)
    configure(settings.log_format, settings.log_level)
    if not settings.edge_central_url:
        raise click.ClickException("give the central service: --central URL")
    if settings.edge_token is None:
        raise click.ClickException("give the edge token: FLEET_EDGE_TOKEN or --token")
    if settings.edge_key is None:
        raise click.ClickException(
            "set FLEET_EDGE_KEY (make one with `fleet credentials new-key`): the targets' "
            "credentials are kept encrypted in the edge's file"
        )
    try:
        cipher = Cipher(settings.edge_key.get_secret_value())
    except ValueError:
        raise click.ClickException("FLEET_EDGE_KEY holds a key that is not a Fernet key") from None
    asyncio.run(_run(settings, cipher))


def _with_options(
    settings: Settings,
    central: str | None,
    token: str | None,
    sites: tuple[str, ...],
    data: Path | None,
) -> Settings:
    update: dict[str, Any] = {}
    if central:
        update["edge_central_url"] = central
    if token:
        update["edge_token"] = SecretStr(token)
    if sites:
        update["edge_sites"] = list(sites)
    if data is not None:
        update["edge_data"] = data
    return settings.model_copy(update=update)


async def _run(settings: Settings, cipher: Cipher) -> None:
    assert settings.edge_central_url is not None
    assert settings.edge_token is not None
    store = EdgeStore(
        settings.edge_data, cipher, settings.edge_buffer_max_rows, settings.edge_buffer_max_age_s
    )
    central = Central(
        settings.edge_central_url,
        settings.edge_token.get_secret_value(),
        settings.edge_timeout_s,
        settings.edge_sites,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("edge_started", central=settings.edge_central_url, data=str(settings.edge_data))
    try:
        await EdgePoller(settings, store, central).run(stop)
    finally:
        await central.close()
        store.close()
