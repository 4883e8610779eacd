"""``fleet demo``: the sample fleet on real simulated devices, probed live.

It loads the sample fleet into a fresh SQLite file, starts a real SNMP agent for every device
with a management address (each on its own 127.0.0.0/8 address), gives every device an SNMP
probe and a credential profile, and serves the API with the scheduler. Then, on a timeline, one
border site loses its satellite link (every device there stops answering: the device the site
is reached by is blamed, the rest turn unreachable) and gets it back, while one camera elsewhere
flaps and is damped. Routers answer SSH too (as Cisco IOS): their firmware is read from
`show version` and their host keys are pinned on first contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import sqlalchemy as sa
import uvicorn
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import context, migrate
from fleet.access import tokens
from fleet.access.roles import Role
from fleet.api.app import create_app
from fleet.database import Database
from fleet.demo.devices import SimDevice
from fleet.demo.simulator import SimulatedFleet
from fleet.demo.snmprec import community_for
from fleet.inventory import configs, credentials, service, sync
from fleet.inventory.choices import DeviceLifecycle, LinkLifecycle
from fleet.inventory.credentials import Cipher, CredentialProfileCreate, CredentialSecret
from fleet.inventory.models import Device, DeviceModel, Link, Site
from fleet.inventory.resources import DEVICE, DEVICE_MODEL
from fleet.logging import get_logger
from fleet.settings import Settings
from fleet.upgrades import profiles

log = get_logger("fleet.demo")
ACTOR = "demo"
SNMP_PORT = 16161
SSH_PORT = 2222
PROBE_INTERVAL_S = 10.0
SSH_KINDS = ("router",)  # answer SSH as cisco_ios; every device answers SNMP


@dataclass
class Plan:
    devices: list[SimDevice]
    cut_site: str
    cut_devices: list[int]
    flapping: int | None


async def _prepare(
    settings: Settings, cipher: Cipher, snmp_port: int, ssh_port: int
) -> tuple[Plan, str]:
    """Load the sample, point every networked device at its simulated agent (SNMP on
    ``snmp_port``, routers' SSH on ``ssh_port``); return the plan of the show and an admin
    token."""
    await migrate.upgrade(settings.database_url)
    db = Database.of(settings.database_url, settings.sqlite_busy_timeout_s)
    try:
        async with db.session(write=True) as session:
            secret = await _load_sample(session, settings)
            rows = await _networked_devices(session)
            with context.acting_as(ACTOR):
                await _point_at_simulator(session, cipher, rows, snmp_port, ssh_port)
            cut_site = await _satellite_site(session)
            await session.commit()
    finally:
        await db.dispose()
    return _plan_of(rows, cut_site), secret


async def _load_sample(session: AsyncSession, settings: Settings) -> str:
    """The sample fleet and its profiles, and an admin token for the demo (its secret)."""
    desired = configs.load(settings.site_configs)
    await sync.apply_plan(session, await sync.make_plan(session, desired, prune=False))
    wanted, _ = profiles.load(settings.site_configs)
    with context.acting_as(ACTOR):
        await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
        _, secret = await tokens.create(
            session, name="demo-admin", role=Role.admin, rate_limit_per_minute=0
        )
    return secret


async def _networked_devices(session: AsyncSession) -> list[Any]:
    """The devices with a management address that are in service, with model and site code."""
    return list(
        (
            await session.execute(
                sa.select(Device, DeviceModel, col(Site.code))
                .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
                .join(Site, col(Device.site_id) == col(Site.id))
                .where(col(Device.management_address).is_not(None))
                .where(col(Device.lifecycle).in_(DeviceLifecycle.probed()))
                .order_by(col(Device.id))
            )
        ).all()
    )


async def _point_at_simulator(
    session: AsyncSession, cipher: Cipher, rows: list[Any], snmp_port: int, ssh_port: int
) -> None:
    """Credential profiles for the simulated agents, and each device's probes aimed at them."""
    await credentials.create(
        session,
        cipher,
        CredentialProfileCreate(
            name="demo-ssh",
            kind="ssh",
            username=SimulatedFleet.ssh_username,
            secret=CredentialSecret(password=SecretStr(SimulatedFleet.ssh_password)),
        ),
    )
    for model in {m.slug: m for _, m, _ in rows if m.kind in SSH_KINDS}.values():
        await service.update(
            session,
            DEVICE_MODEL,
            model.slug,
            {"ssh_platform": "cisco_ios"},
            service.etag(model.version),
        )
    for device, model, _ in rows:
        name = f"demo-{community_for(device.serial)}"[:80]
        await credentials.create(
            session,
            cipher,
            CredentialProfileCreate(
                name=name,
                kind="snmp_v2c",
                secret=CredentialSecret(community=SecretStr(community_for(device.serial))),
            ),
        )
        assert device.id is not None
        probes: dict[str, Any] = {"probes": ["snmp"], "snmp_profile": name, "probe_port": snmp_port}
        if model.kind in SSH_KINDS:
            probes.update(probes=["snmp", "ssh"], ssh_profile="demo-ssh", ssh_port=ssh_port)
        await service.update(session, DEVICE, device.id, probes, service.etag(device.version))


def _plan_of(rows: list[Any], cut_site: str) -> Plan:
    """The devices to simulate, those cut with the site's link, and the camera that flaps."""
    devices = [
        SimDevice(
            device_id=device.id or 0,
            serial=device.serial,
            kind=model.kind,
            manufacturer=model.manufacturer,
            model=model.model,
            address=device.management_address or "",
            firmware=device.firmware_version,
            ssh=model.kind in SSH_KINDS,
            hostname=device.hostname,
        )
        for device, model, _ in rows
    ]
    cut = [device.id or 0 for device, _, code in rows if code == cut_site]
    flapping = next(
        (device.id for device, model, code in rows if model.kind == "camera" and code != cut_site),
        None,
    )
    return Plan(devices, cut_site, cut, flapping)


async def _satellite_site(session: Any) -> str:
    """A border site whose only active link is a satellite link (the smallest such site)."""
    rows = (
        await session.execute(
            sa.select(col(Site.code), sa.func.count(col(Link.id)), sa.func.min(col(Link.medium)))
            .join(Link, col(Link.site_id) == col(Site.id))
            .where(
                col(Link.lifecycle) == LinkLifecycle.active, col(Site.kind).like("border_crossing%")
            )
            .group_by(col(Site.code))
            .order_by(col(Site.code))
        )
    ).all()
    for code, count, medium in rows:
        if count == 1 and medium == "satellite":
            return str(code)
    return str(rows[0][0])


async def _show(
    sim: SimulatedFleet, plan: Plan, cut_after: float, restore_after: float, interval: float
) -> None:
    """The timeline: the camera flaps all along; the cut site loses its devices after
    ``cut_after`` seconds and gets them back ``restore_after`` seconds later, in a loop."""
    if plan.flapping is not None:
        sim.flap(plan.flapping, silent_s=interval, answering_s=1.5 * interval)
        log.info("demo_flapping", device=plan.flapping)
    while True:
        await asyncio.sleep(cut_after)
        log.info("demo_link_lost", site=plan.cut_site)
        for device_id in plan.cut_devices:
            sim.cut(device_id)
        await asyncio.sleep(restore_after)
        log.info("demo_link_back", site=plan.cut_site)
        for device_id in plan.cut_devices:
            sim.restore(device_id)


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """While inside, SIGTERM ends the demo through every ``finally``, as Ctrl-C does (exit
    status 143): the simulator's processes stopped, even paused ones, and the temp files
    removed. Left alone, uvicorn answers SIGTERM by shutting down and raising it again, which
    kills the process before any of that. Only the main thread can set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _demo_settings(folder: Path, site_configs: Path, key: str, interval: float) -> Settings:
    """A throw-away database in ``folder``, the simulated fleet's pace and limits."""
    return Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        site_configs=site_configs,
        credential_keys=SecretStr(key),
        simulated=True,
        load_sample_when_empty=False,
        bootstrap_admin_token=False,
        probe_interval_s=interval,
        probe_jitter_s=interval / 5,
        probe_timeout_s=min(2.0, interval / 2),
        probe_retries=0,
        probe_concurrency=16,
        probe_site_concurrency=4,
    )


def _announce(
    host: str,
    port: int,
    secret: str,
    sim: SimulatedFleet,
    plan: Plan,
    cut_after: float,
    restore_after: float,
) -> None:
    """Where the demo answers, its token, and what is about to happen."""
    click.echo(f"API: http://{host}:{port}/api/v1/status/sites  docs: http://{host}:{port}/schema")
    click.echo(f"Token (admin, for this demo only): FLEET_TOKEN={secret}")
    flapping = (
        f"; camera {sim.devices[plan.flapping].serial} flaps all along"
        if plan.flapping is not None
        else ""
    )
    click.echo(
        f"In {cut_after:g} s site {plan.cut_site} loses its satellite link for "
        f"{restore_after:g} s (and again, in a loop){flapping}."
    )


async def run(
    host: str,
    port: int,
    cut_after: float,
    restore_after: float,
    site_configs: Path,
    *,
    snmp_port: int = SNMP_PORT,
    ssh_port: int = SSH_PORT,
    probe_interval: float = PROBE_INTERVAL_S,
) -> None:
    """Run the demo until interrupted: the API on ``host:port``, the simulated devices' SNMP
    agents on ``snmp_port`` and the routers' SSH servers on ``ssh_port`` (each device at its
    own address), every device probed every ``probe_interval`` seconds. The probes' jitter
    (a fifth of the interval), their timeout (half of it, at most 2 s) and the camera's
    flapping (silent for one interval, answering for one and a half) follow it, so that the
    damping shows the same at any pace: the rounds fall at a different point of each flap, and
    about one in five starts early enough in a silent spell to time out, between good ones."""
    with _terminate_like_interrupt(), tempfile.TemporaryDirectory(prefix="fleet-demo-") as folder:
        key = credentials.new_key()
        settings = _demo_settings(Path(folder), site_configs, key, probe_interval)
        cipher = Cipher(key)
        plan, secret = await _prepare(settings, cipher, snmp_port, ssh_port)
        controllable = {*plan.cut_devices, *([plan.flapping] if plan.flapping else [])}
        sim = SimulatedFleet(
            plan.devices, controllable=controllable, snmp_port=snmp_port, ssh_port=ssh_port
        )
        click.echo(f"Starting {len(plan.devices)} simulated devices on 127.0.0.0/8 ...")
        await sim.start()
        log.warning(
            "simulated_fleet",
            devices=len(plan.devices),
            note="every device is simulated on 127.0.0.0/8; `fleet serve` serves a real fleet",
        )
        try:
            _announce(host, port, secret, sim, plan, cut_after, restore_after)
            server = uvicorn.Server(
                uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
            )
            show = asyncio.create_task(
                _show(sim, plan, cut_after, restore_after, interval=probe_interval)
            )
            try:
                await server.serve()
            finally:
                show.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await show
        finally:
            sim.stop()
