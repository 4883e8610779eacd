"""What an edge poller and the central service exchange, as JSON documents: a device's probes
with what ``probe_once`` needs (secrets included: only an edge token of the device's site reads
them), and a round's readings. Both sides read and write them here, so they cannot drift."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fleet.probes.targets import DeviceProbes
from fleet.probes.types import (
    HttpCredentials,
    HttpOptions,
    InterfaceReading,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpOptions,
    SnmpV2c,
    SnmpV3,
    SshCredentials,
    SshOptions,
)


def spec_document(spec: DeviceProbes) -> dict[str, Any]:
    """A device's probes as a JSON document (its secrets in clear: keep it encrypted at rest)."""
    target = dataclasses.asdict(spec.target)
    snmp = spec.target.snmp
    if snmp is not None:
        target["snmp"]["credentials"]["version"] = (
            "v3" if isinstance(snmp.credentials, SnmpV3) else "v2c"
        )
    return {
        "device_id": spec.device_id,
        "site_id": spec.site_id,
        "serial": spec.serial,
        "kinds": list(spec.kinds),
        "interval_s": spec.interval_s,
        "target": target,
    }


def spec_of(document: dict[str, Any]) -> DeviceProbes:
    """The device's probes back from :func:`spec_document`."""
    target = dict(document["target"])
    snmp = target.pop("snmp", None)
    ssh = target.pop("ssh", None)
    http = target.pop("http", None)
    return DeviceProbes(
        device_id=int(document["device_id"]),
        site_id=int(document["site_id"]),
        serial=str(document["serial"]),
        kinds=tuple(document["kinds"]),
        interval_s=document.get("interval_s"),
        target=ProbeTarget(
            **target,
            snmp=_snmp(snmp) if snmp else None,
            ssh=_ssh(ssh) if ssh else None,
            http=_http(http) if http else None,
        ),
    )


def _snmp(document: dict[str, Any]) -> SnmpOptions:
    credentials = dict(document["credentials"])
    version = credentials.pop("version", "v2c")
    return SnmpOptions(
        credentials=SnmpV3(**credentials) if version == "v3" else SnmpV2c(**credentials),
        extra_oids=dict(document.get("extra_oids") or {}),
        max_repetitions=int(document.get("max_repetitions", 32)),
    )


def _ssh(document: dict[str, Any]) -> SshOptions:
    commands = document.get("commands")
    return SshOptions(
        platform=document["platform"],
        credentials=SshCredentials(**document["credentials"]),
        host_key=document.get("host_key"),
        commands=tuple(commands) if commands else None,
        secret=document.get("secret"),
    )


def _http(document: dict[str, Any]) -> HttpOptions:
    credentials = document.get("credentials")
    return HttpOptions(
        path=document["path"],
        scheme=document["scheme"],
        verify_tls=bool(document["verify_tls"]),
        credentials=HttpCredentials(**credentials) if credentials else None,
        expect_json=bool(document.get("expect_json", True)),
        expected_status=document.get("expected_status"),
    )


def reading_document(reading: Reading) -> dict[str, Any]:
    """A reading as a JSON document (times as ISO 8601 text; its round names the device)."""
    document = dataclasses.asdict(reading)
    del document["device_id"]
    document["status"] = reading.status.value
    document["started_at"] = reading.started_at.isoformat()
    return document


def reading_of(document: dict[str, Any], device_id: int) -> Reading:
    """A reading of a device back from :func:`reading_document` (or the API's body)."""
    values = dict(document, device_id=device_id)
    started = values["started_at"]
    values["started_at"] = (
        started if isinstance(started, datetime) else datetime.fromisoformat(started)
    )
    values["status"] = ProbeStatus(values["status"])
    values["interfaces"] = [InterfaceReading(**i) for i in values.get("interfaces") or []]
    return Reading(**values)
