"""The scheduler's driven rounds against a real SNMP agent (snmpsim on 127.0.0.1): gufo-snmp's
v2c poll runs on its channel's callbacks, no task per round; the results are stored; a silent
agent times out, is retried once and the round ends with both attempts counted."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from probe_peers import SnmpAgent

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes.models import ProbeResult
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import ProbeTarget, SnmpOptions, SnmpV2c
from fleet.settings import Settings

pytestmark = [pytest.mark.snmp, pytest.mark.anyio]


def snmp_spec(device_id: int, port: int, community: str) -> DeviceProbes:
    return DeviceProbes(
        device_id=device_id,
        site_id=1,
        serial=f"SN-{device_id}",
        kinds=("snmp",),
        interval_s=None,
        target=ProbeTarget(
            device_id, "127.0.0.1", port, snmp=SnmpOptions(credentials=SnmpV2c(community))
        ),
    )


async def test_driven_rounds_against_a_real_agent(
    snmp_agent: SnmpAgent, tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "fleet.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
        probe_snmp_driver="gufo",
        probe_timeout_s=0.5,
        probe_retries=1,
        probe_jitter_s=0,
    )
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes requests, never answers
    silent.bind(("127.0.0.1", 0))
    db = Database(settings.database_url)
    try:
        scheduler = ProbeScheduler(db, settings, Cipher(None))
        scheduler.specs[1] = snmp_spec(1, snmp_agent.port, snmp_agent.community)
        scheduler.specs[2] = snmp_spec(2, silent.getsockname()[1], "x")
        for device_id in (1, 2):
            scheduler.plan(device_id, 0.0)
        await asyncio.sleep(0.01)
        await scheduler.dispatch_due()
        assert scheduler.in_flight() == {1: None, 2: None}  # both driven: no task
        await asyncio.wait_for(scheduler.idle(), 5)
        await scheduler.engine.flush()
        async with db.session() as session:
            rows = {r.device_id: r for r in (await session.scalars(sa.select(ProbeResult))).all()}
        assert rows[1].status == "ok", rows[1].reason
        assert rows[1].data is not None
        assert [i["oper_status"] for i in rows[1].data["interfaces"]] == ["up", "up", "down"]
        assert rows[2].status == "timeout"
        assert rows[2].data == {"values": {"attempts": 2}}
    finally:
        silent.close()
        await db.dispose()
