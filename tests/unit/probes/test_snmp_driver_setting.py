"""``FLEET_PROBE_SNMP_DRIVER`` picks the SNMP driver of the scheduler and of probe-now."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes import base
from fleet.probes.base import DRIVERS, Probe, probe_for
from fleet.probes.scheduler import ProbeScheduler
from fleet.probes.snmp import DEFAULT_SNMP_DRIVER, SnmpDriver
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import ProbeStatus, ProbeTarget, Reading, SnmpOptions, SnmpV2c, utcnow
from fleet.settings import Settings, SnmpDriverName

pytestmark = pytest.mark.anyio


class Recorder:
    """Stands in for one registered driver and records the devices it polled."""

    kind = "snmp"

    def __init__(self, driver: str) -> None:
        self.driver = driver
        self.polled: list[int] = []

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        self.polled.append(target.device_id)
        return Reading(
            kind="snmp",
            device_id=target.device_id,
            status=ProbeStatus.OK,
            started_at=utcnow(),
            values={"driver": self.driver},
        )


def test_every_driver_the_setting_accepts_is_registered() -> None:
    assert {("snmp", d) for d in typing.get_args(SnmpDriver)} <= set(DRIVERS)
    assert Settings().probe_snmp_driver == DEFAULT_SNMP_DRIVER


def test_the_setting_names_exactly_the_snmp_drivers() -> None:
    assert set(typing.get_args(SnmpDriverName)) == set(typing.get_args(SnmpDriver))


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_PROBE_SNMP_DRIVER", "pysnmp")
    assert Settings().probe_snmp_driver == "pysnmp"
    monkeypatch.setenv("FLEET_PROBE_SNMP_DRIVER", "net-snmp")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.*")
@pytest.mark.parametrize("driver", typing.get_args(SnmpDriver))
def test_probe_for_follows_the_setting(driver: str) -> None:
    settings = Settings(probe_snmp_driver=driver)
    assert getattr(probe_for("snmp", settings), "driver", None) == driver
    assert probe_for("tcp", settings) is base.get_probe("tcp")


@pytest.mark.parametrize("driver", typing.get_args(SnmpDriver))
async def test_the_scheduler_polls_with_the_configured_driver(
    driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorders = {d: Recorder(d) for d in typing.get_args(SnmpDriver)}
    instances: dict[tuple[str, str], Probe] = {("snmp", d): r for d, r in recorders.items()}
    monkeypatch.setattr(base, "_instances", instances)
    settings = Settings(
        database_url="sqlite+aiosqlite://", probe_snmp_driver=driver, probe_retries=0
    )
    db = Database(settings.database_url)
    try:
        scheduler = ProbeScheduler(db, settings, Cipher(None))
        spec = DeviceProbes(
            device_id=7,
            site_id=1,
            serial="SN-7",
            kinds=("snmp",),
            interval_s=None,
            target=ProbeTarget(7, "127.0.0.1", 161, snmp=SnmpOptions(SnmpV2c("public"))),
        )
        (reading,) = await scheduler.probe(spec)
    finally:
        await db.dispose()
    assert reading.values["driver"] == driver
    assert {d: r.polled for d, r in recorders.items()} == {
        d: [7] if d == driver else [] for d in recorders
    }
