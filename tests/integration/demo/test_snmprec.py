"""Simulator data without peers: every sample device's sysDescr gives back its firmware."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleet.demo import snmprec
from fleet.probes.snmp import firmware_from_descr

SITE_CONFIGS = Path(__file__).resolve().parents[3] / "site_configs"


def sample_devices() -> list[tuple[str, str, str, str, str | None]]:
    """(kind, manufacturer, model, hostname, firmware) of every device in the sample fleet."""
    models = {
        m["slug"]: m for m in yaml.safe_load((SITE_CONFIGS / "device_models.yaml").read_text())
    }
    found = []
    for path in sorted((SITE_CONFIGS / "sites").glob("*.yaml")):
        for device in yaml.safe_load(path.read_text()).get("devices") or []:
            model = models[device["model"]]
            firmware = device.get("firmware_version")
            found.append(
                (
                    model["kind"],
                    model["manufacturer"],
                    model["model"],
                    device.get("hostname") or device["serial"].lower(),
                    None if firmware is None else str(firmware),
                )
            )
    return found


def test_every_sample_device_sys_descr_gives_its_firmware() -> None:
    devices = sample_devices()
    assert len({kind for kind, *_ in devices}) == 12  # every kind is in the sample
    for kind, vendor, model, hostname, firmware in devices:
        descr = snmprec.sys_descr(kind, vendor, model, firmware, hostname)
        assert firmware_from_descr(descr) == firmware, descr


@pytest.mark.parametrize(
    ("vendor", "kind", "model", "expected"),
    [
        ("Cisco", "vpn_gateway", "ASA5516-X", "Cisco Adaptive Security Appliance"),
        ("MikroTik", "router", "RB4011iGS+RM", "RouterOS RB4011iGS+RM"),
        ("Hanwha Vision", "camera", "XNO-6080R", "Hanwha Vision XNO-6080R"),
    ],
)
def test_unknown_firmware_leaves_the_version_out(
    vendor: str, kind: str, model: str, expected: str
) -> None:
    descr = snmprec.sys_descr(kind, vendor, model, None, "h1")
    assert descr == expected
    assert firmware_from_descr(descr) is None


def test_community_and_row_order() -> None:
    assert snmprec.community_for("GC4-2121/72585 ") == "sim-gc4-2121-72585"
    rows = snmprec.device_rows(
        kind="ups",
        manufacturer="APC",
        model="Smart-UPS",
        firmware="15.5",
        hostname="ups01",
        uptime_ticks=100,
    )
    oids = [line.split("|")[0] for line in snmprec.render(rows).splitlines()]
    assert oids == sorted(oids, key=lambda oid: [int(x) for x in oid.split(".")])
    assert "1.3.6.1.2.1.1.3.0|67:numeric|rate=100,initial=100" in snmprec.render(rows)
    with pytest.raises(ValueError, match="one line"):
        snmprec.render([("1.3.6.1.2.1.1.1.0", "4", "two\nlines")])
