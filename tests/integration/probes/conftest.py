"""Real peers on 127.0.0.1 for the probe drivers: an snmpsim agent and fakenos SSH servers.

Both are session fixtures: snmpsim takes a few seconds to index its data and fakenos about
0.3 s per simulated device. Everything is stopped at the end of the session, in ``finally``.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from probe_peers import UPTIME_INITIAL, SnmpAgent, SshLab, free_port

SNMPSIM = Path(sys.executable).with_name("snmpsim-command-responder")

V2C_COMMUNITY = "fleet-ro"
ENGINE_ID = "80001f8880f1ee7001"

#: name -> (auth protocol, auth key, priv protocol (snmpsim spelling), priv key)
V3_USERS: dict[str, tuple[str, str, str, str]] = {
    "fleet-sha": ("SHA", "fleet-auth-key-1", "AES", "fleet-priv-key-1"),
    "fleet-sha256": ("SHA256", "fleet-auth-key-2", "AES", "fleet-priv-key-2"),
    "fleet-sha512": ("SHA512", "fleet-auth-key-3", "AES256BLMT", "fleet-priv-key-3"),
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

    def key(row: tuple[str, str, str]) -> list[int]:
        return [int(x) for x in row[0].split(".")]

    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in sorted(rows, key=key))


def _wait_snmp(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    from gufo.snmp.sync.client import SnmpSession

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snmpsim exited with {proc.returncode}")
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
    if not SNMPSIM.exists():
        pytest.skip("snmpsim is not installed")
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
    cmd = [str(SNMPSIM), f"--v3-engine-id={ENGINE_ID}"]
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
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    log = (root / "snmpsim.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_snmp(port, proc, time.monotonic() + 30)
        yield SnmpAgent("127.0.0.1", port, V2C_COMMUNITY, V3_USERS, V3_CONTEXT)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(root / "cache", ignore_errors=True)


# --- SSH --------------------------------------------------------------------------------------

SSH_USER = "fleet"
SSH_PASSWORD = "fleet-ssh-pass"

LINUX_UNAME = (
    "Linux {host} 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) "
    "x86_64 GNU/Linux"
)
LINUX_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)
LINUX_UPTIME = " 10:15:01 up 3 days,  4:05,  2 users,  load average: 0.15, 0.10, 0.05"


def _linux_nos(name: str, uptime_output: str) -> dict[str, object]:
    prompt = "{base_prompt}$"

    def command(output: str) -> dict[str, object]:
        return {"output": output, "help": "", "prompt": prompt}

    return {
        "name": name,
        "initial_prompt": prompt,
        "commands": {
            "uname -a": command(LINUX_UNAME.format(host="gw-linux")),
            "cat /etc/os-release": command(LINUX_OS_RELEASE),
            "uptime": command(uptime_output),
            "terminal length 0": command(""),
            "terminal width 511": command(""),
        },
    }


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
        _linux_nos("fleet_linux", LINUX_UPTIME),
        _linux_nos("fleet_linux_garbled", "uptime: cannot open /var/run/utmp"),
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
