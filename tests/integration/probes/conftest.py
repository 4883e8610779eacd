"""Real peers on 127.0.0.1 for the probe drivers: an snmpsim agent and fakenos SSH servers.

Both are session fixtures: snmpsim takes a few seconds to index its data and fakenos about
0.3 s per simulated device. Everything is stopped at the end of the session, in ``finally``.
The snmpsim process, its data format and the linux-like SSH platform come from
:mod:`fleet.demo` (the simulator behind ``fleet demo``); fakenos runs in this process here, so
that tests can spy on its server.
"""

from __future__ import annotations

import io
import shutil
import socket
import time
from collections.abc import Iterator

import paramiko
import pytest
from probe_peers import UPTIME_INITIAL, SnmpAgent, SshLab, free_port

from fleet.demo import nos
from fleet.demo.peer import PeerConfig, PeerProcess
from fleet.demo.snmprec import render

V2C_COMMUNITY = "fleet-ro"
ENGINE_ID = "80001f8880f1ee7001"

#: name -> (auth protocol, auth key, priv protocol (snmpsim spelling), priv key)
V3_USERS: dict[str, tuple[str, str, str, str]] = {
    "fleet-sha": ("SHA", "fleet-auth-key-1", "AES", "fleet-priv-key-1"),
    "fleet-sha256": ("SHA256", "fleet-auth-key-2", "AES", "fleet-priv-key-2"),
    "fleet-sha512": ("SHA512", "fleet-auth-key-3", "AES256BLMT", "fleet-priv-key-3"),
    # legacy kit: refused by policy unless the credential profile carries a waiver
    "fleet-md5": ("MD5", "fleet-auth-key-4", "DES", "fleet-priv-key-4"),
}
V3_CONTEXT = "core-sw-2"


def snmprec(descr: str, uptime: int) -> str:
    """A small switch: 3 interfaces (2 up, 1 down), 64-bit counters on ifIndex 1 and 2."""
    rows = [
        ("1.3.6.1.2.1.1.1.0", "4", descr),
        ("1.3.6.1.2.1.1.2.0", "6", "1.3.6.1.4.1.9.1.1208"),
        ("1.3.6.1.2.1.1.3.0", "67:numeric", f"rate=100,initial={uptime}"),
        ("1.3.6.1.2.1.1.5.0", "4", "sw-test"),
        ("1.3.6.1.2.1.2.1.0", "2", "3"),
        ("1.3.6.1.2.1.2.2.1.8.1", "2", "1"),
        ("1.3.6.1.2.1.2.2.1.8.2", "2", "1"),
        ("1.3.6.1.2.1.2.2.1.8.3", "2", "2"),
        ("1.3.6.1.2.1.2.2.1.10.1", "65", "1111"),
        ("1.3.6.1.2.1.2.2.1.10.3", "65", "3333"),
        ("1.3.6.1.2.1.2.2.1.16.1", "65", "2222"),
        ("1.3.6.1.2.1.2.2.1.16.3", "65", "4444"),
        ("1.3.6.1.2.1.31.1.1.1.6.1", "70", "9000000001"),
        ("1.3.6.1.2.1.31.1.1.1.6.2", "70", "9000000003"),
        ("1.3.6.1.2.1.31.1.1.1.10.1", "70", "9000000002"),
        ("1.3.6.1.2.1.31.1.1.1.10.2", "70", "9000000004"),
        ("1.3.6.1.4.1.9.2.1.56.0", "2", "7"),  # avgBusy5 (CPU %)
        ("1.3.6.1.4.1.9.9.48.1.1.1.5.1", "66", "123456"),  # ciscoMemoryPoolUsed
    ]

    return render(rows)


def _wait_snmp(port: int, agent: PeerProcess, deadline: float) -> None:
    from gufo.snmp.sync.client import SnmpSession

    while time.monotonic() < deadline:
        code = agent.returncode()
        if code is not None:
            raise RuntimeError(f"snmpsim exited with {code}: {agent.log_tail()}")
        try:
            SnmpSession("127.0.0.1", port, community=V2C_COMMUNITY, timeout=0.5).get(
                "1.3.6.1.2.1.1.3.0"
            )
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("snmpsim did not answer in time")


@pytest.fixture(scope="session")
def snmp_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    pytest.importorskip("snmpsim")
    root = tmp_path_factory.mktemp("snmpsim")
    data = root / "data"
    data.mkdir()
    ios = "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11"
    (data / f"{V2C_COMMUNITY}.snmprec").write_text(snmprec(ios, UPTIME_INITIAL))
    # v3: the file stem is the context name, so ".snmprec" serves the empty context
    (data / ".snmprec").write_text(snmprec(ios + " (v3)", UPTIME_INITIAL))
    (data / f"{V3_CONTEXT}.snmprec").write_text(snmprec(ios + " (context)", UPTIME_INITIAL))
    port = free_port(socket.SOCK_DGRAM)
    # --v3-engine-id must come first, or the v3 user options are silently ignored
    cmd = [f"--v3-engine-id={ENGINE_ID}"]
    for user, (auth, auth_key, priv, priv_key) in V3_USERS.items():
        cmd += [
            f"--v3-user={user}",
            f"--v3-auth-key={auth_key}",
            f"--v3-auth-proto={auth}",
            f"--v3-priv-key={priv_key}",
            f"--v3-priv-proto={priv}",
        ]
    cmd += [
        f"--data-dir={data}",
        f"--cache-dir={root / 'cache'}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        "--logging-method=null",
    ]
    agent = PeerProcess("snmpsim", PeerConfig(snmpsim_args=cmd), root)
    try:
        agent.start()
        _wait_snmp(port, agent, time.monotonic() + 30)
        yield SnmpAgent("127.0.0.1", port, V2C_COMMUNITY, V3_USERS, V3_CONTEXT)
    finally:
        agent.stop()
        shutil.rmtree(root / "cache", ignore_errors=True)


# --- SSH --------------------------------------------------------------------------------------

SSH_USER = "fleet"
SSH_PASSWORD = "fleet-ssh-pass"


def _public(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    from fakenos import FakeNOS
    from fakenos.plugins.servers import ssh_server_paramiko

    root = tmp_path_factory.mktemp("fakenos")
    other_key = paramiko.RSAKey.generate(2048)
    other_key_file = root / "other_host_key"
    other_key.write_private_key_file(str(other_key_file))
    default_key = paramiko.RSAKey(file_obj=io.StringIO(ssh_server_paramiko.DEFAULT_SSH_KEY))

    names = ["ios", "linux", "linux_garbled", "ios_rekeyed"]
    ports = {name: free_port() for name in names}
    server = {
        "plugin": "ParamikoSshServer",
        "configuration": {"address": "127.0.0.1", "timeout": 1},
    }
    inventory = {
        "default": {"username": SSH_USER, "password": SSH_PASSWORD, "server": server},
        "hosts": {
            "ios": {"port": ports["ios"], "platform": "cisco_ios"},
            "linux": {"port": ports["linux"], "nos": {"plugin": "fleet_linux"}},
            "linux_garbled": {
                "port": ports["linux_garbled"],
                "nos": {"plugin": "fleet_linux_garbled"},
            },
            "ios_rekeyed": {
                "port": ports["ios_rekeyed"],
                "platform": "cisco_ios",
                "server": {
                    "plugin": "ParamikoSshServer",
                    "configuration": {"ssh_key_file": str(other_key_file)},
                },
            },
        },
    }
    plugins = [
        nos.linux_nos("fleet_linux"),
        nos.linux_nos("fleet_linux_garbled", "uptime: cannot open /var/run/utmp"),
    ]
    net = FakeNOS(inventory=inventory, plugins=plugins)
    try:
        net.start()
        keys = {name: _public(default_key) for name in names}
        keys["ios_rekeyed"] = _public(other_key)
        yield SshLab("127.0.0.1", ports, SSH_USER, SSH_PASSWORD, free_port(), keys)
    finally:
        net.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
