"""Credential and target shapes never show a secret."""

from __future__ import annotations

from fleet.probes.types import (
    HttpCredentials,
    HttpOptions,
    ProbeStatus,
    ProbeTarget,
    SnmpOptions,
    SnmpV2c,
    SnmpV3,
    SshCredentials,
    SshOptions,
)

SECRETS = ["comm-XYZ", "auth-XYZ", "priv-XYZ", "pass-XYZ", "PEM-XYZ", "token-XYZ", "enable-XYZ"]


def test_reprs_hide_secrets() -> None:
    target = ProbeTarget(
        1,
        "10.0.0.1",
        snmp=SnmpOptions(SnmpV3("ops", "SHA256", "auth-XYZ", "AES", "priv-XYZ", "ctx")),
        ssh=SshOptions(
            "cisco_ios",
            SshCredentials("ops", "pass-XYZ", "-----BEGIN PEM-XYZ"),
            secret="enable-XYZ",
        ),
        http=HttpOptions(credentials=HttpCredentials(bearer_token="token-XYZ")),
    )
    text = repr(target) + str(target) + repr(SnmpV2c("comm-XYZ"))
    for secret in SECRETS:
        assert secret not in text
    assert "ops" in text  # non-secret fields stay visible
    assert "SHA256" in text


def test_default_ports() -> None:
    assert ProbeTarget(1, "h").port_for("snmp") == 161
    assert ProbeTarget(1, "h").port_for("ssh") == 22
    assert ProbeTarget(1, "h", http=HttpOptions()).port_for("http") == 443
    assert ProbeTarget(1, "h", http=HttpOptions(scheme="http")).port_for("http") == 80
    assert ProbeTarget(1, "h", port=8161).port_for("snmp") == 8161


def test_status_values() -> None:
    assert [s.value for s in ProbeStatus] == [
        "ok",
        "timeout",
        "auth_failed",
        "refused",
        "host_key_mismatch",
        "parse_error",
        "error",
    ]


def test_ports_per_kind_come_first() -> None:
    from fleet.probes.types import ProbeTarget

    target = ProbeTarget(device_id=1, address="127.0.0.1", port=16161, ports={"ssh": 2222})
    assert target.port_for("ssh") == 2222
    assert target.port_for("snmp") == 16161
    assert ProbeTarget(device_id=1, address="127.0.0.1").port_for("ssh") == 22
