"""The SSH driver against fakenos servers on 127.0.0.1 (cisco_ios and a small linux)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from fakenos.plugins.servers import ssh_server_paramiko
from probe_peers import SshLab, free_port

from fleet.probes.base import run_probe
from fleet.probes.ssh import SshProbe, fingerprint
from fleet.probes.types import ProbeStatus, ProbeTarget, SshCredentials, SshOptions

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.anyio,
    # fakenos' server threads raise when a client aborts the handshake (as a pinned client
    # must); pytest reports that as a warning in whichever test runs when the thread ends
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture(scope="module")
def probe() -> Iterator[SshProbe]:
    p = SshProbe(max_workers=4)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def auth_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Usernames the fakenos servers were asked to authenticate (a spy, not a mock)."""
    seen: list[str] = []
    original = ssh_server_paramiko.ParamikoSshServerInterface.check_auth_password

    def spy(self: object, username: str, password: str) -> int:
        seen.append(username)
        return original(self, username, password)  # type: ignore[no-any-return]

    monkeypatch.setattr(ssh_server_paramiko.ParamikoSshServerInterface, "check_auth_password", spy)
    return seen


def target(lab: SshLab, host: str, platform: str, **kw: object) -> ProbeTarget:
    password = kw.pop("password", lab.password)
    port = kw.pop("port", lab.ports.get(host))
    return ProbeTarget(
        device_id=11,
        address=lab.host,
        port=port,  # type: ignore[arg-type]
        ssh=SshOptions(
            platform=platform,
            credentials=SshCredentials(lab.username, password),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        ),
    )


async def test_cisco_ios_show_version(probe: SshProbe, ssh_lab: SshLab) -> None:
    reading = await run_probe(probe, target(ssh_lab, "ios", "cisco_ios"), timeout=10)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.kind == "ssh"
    # fakenos' cisco_ios is an IOS-XE box whose banner wraps over two lines, so the
    # ntc-templates VERSION is empty and the platform's version regex supplies it
    assert reading.firmware_version == "17.03.01a"
    assert (
        reading.uptime_seconds == 1 * 86400 + 17 * 3600 + 32 * 60
    )  # "1 day, 17 hours, 32 minutes"
    assert reading.values["hostname"] == "ios"
    assert reading.values["hardware"] == "CSR1000V"
    assert reading.values["serial"] == "9ESGOBARV9D"
    assert reading.host_key == ssh_lab.host_keys["ios"]
    assert reading.values["host_key_sha256"] == fingerprint(ssh_lab.host_keys["ios"].split()[1])


async def test_linux_health(probe: SshProbe, ssh_lab: SshLab) -> None:
    reading = await run_probe(probe, target(ssh_lab, "linux", "linux"), timeout=10)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.firmware_version == "6.1.0-28-amd64"
    assert reading.uptime_seconds == 3 * 86400 + 4 * 3600 + 5 * 60
    assert reading.values["pretty_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert reading.values["version_id"] == "12"
    assert reading.values["load_1"] == "0.15"


async def test_pinned_key_matches(probe: SshProbe, ssh_lab: SshLab) -> None:
    pinned = ssh_lab.host_keys["linux"]
    for pin in (pinned, fingerprint(pinned.split()[1])):
        t = target(ssh_lab, "linux", "linux", host_key=pin, commands=("uname -a",))
        reading = await run_probe(probe, t, timeout=10)
        assert reading.status is ProbeStatus.OK, reading.reason


async def test_disallowed_command_refused_before_connecting(
    probe: SshProbe, ssh_lab: SshLab, auth_attempts: list[str]
) -> None:
    t = target(ssh_lab, "ios", "cisco_ios", commands=("show version", "reload"))
    t0 = time.perf_counter()
    reading = await run_probe(probe, t, timeout=10, retries=2)
    assert reading.status is ProbeStatus.ERROR
    assert "'reload' is not allowed on cisco_ios" in reading.reason
    assert "attempts" not in reading.values  # not retried
    assert auth_attempts == []
    assert time.perf_counter() - t0 < 0.5


async def test_wrong_password(probe: SshProbe, ssh_lab: SshLab) -> None:
    t = target(ssh_lab, "ios", "cisco_ios", password="not-the-password")
    reading = await run_probe(probe, t, timeout=10, retries=1)
    assert reading.status is ProbeStatus.AUTH_FAILED, reading.reason
    assert "not-the-password" not in reading.reason
    assert "attempts" not in reading.values
    assert reading.host_key == ssh_lab.host_keys["ios"]


async def test_closed_port_refused(probe: SshProbe, ssh_lab: SshLab) -> None:
    t = target(ssh_lab, "closed", "linux", port=free_port())
    reading = await run_probe(probe, t, timeout=5)
    assert reading.status is ProbeStatus.REFUSED, reading.reason


async def test_changed_host_key_is_a_mismatch_and_nothing_is_sent(
    probe: SshProbe, ssh_lab: SshLab, auth_attempts: list[str]
) -> None:
    # the same device (pinned on first use) now answers with another key
    pinned = ssh_lab.host_keys["ios"]
    assert ssh_lab.host_keys["ios_rekeyed"] != pinned
    t = target(ssh_lab, "ios_rekeyed", "cisco_ios", host_key=pinned)
    reading = await run_probe(probe, t, timeout=10, retries=2)
    assert reading.status is ProbeStatus.HOST_KEY_MISMATCH, reading.reason
    assert reading.host_key == ssh_lab.host_keys["ios_rekeyed"]
    assert "attempts" not in reading.values
    assert auth_attempts == []  # no password offered, so no command could run


async def test_made_up_pin_is_a_mismatch(
    probe: SshProbe, ssh_lab: SshLab, auth_attempts: list[str]
) -> None:
    made_up = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTBUcKJ1Nj+4G3OIgTfMmL8"
    for pin in ("SHA256:" + "A" * 43, made_up):
        t = target(ssh_lab, "ios", "cisco_ios", host_key=pin)
        reading = await run_probe(probe, t, timeout=10)
        assert reading.status is ProbeStatus.HOST_KEY_MISMATCH, (pin, reading.reason)
    assert auth_attempts == []


async def test_textfsm_failure_is_parse_error(probe: SshProbe, ssh_lab: SshLab) -> None:
    t = target(ssh_lab, "linux_garbled", "linux")
    reading = await run_probe(probe, t, timeout=10)
    assert reading.status is ProbeStatus.PARSE_ERROR
    assert reading.reason.startswith("uptime: TextFSMError")


async def test_silent_server_times_out(probe: SshProbe) -> None:
    """A port that accepts TCP but never speaks SSH: the banner never comes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        t = ProbeTarget(3, "127.0.0.1", port, ssh=SshOptions("linux", SshCredentials("u", "p")))
        t0 = time.perf_counter()
        reading = await run_probe(probe, t, timeout=1)
    assert reading.status is ProbeStatus.TIMEOUT, reading.reason
    assert time.perf_counter() - t0 < 3


async def test_event_loop_keeps_running_during_ssh(probe: SshProbe, ssh_lab: SshLab) -> None:
    """netmiko blocks for about a second per device; the loop must not notice."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    readings = await asyncio.gather(
        run_probe(probe, target(ssh_lab, "ios", "cisco_ios"), timeout=10),
        run_probe(probe, target(ssh_lab, "linux", "linux"), timeout=10),
    )
    done.set()
    await tick
    assert [r.status for r in readings] == [ProbeStatus.OK, ProbeStatus.OK]
    assert max(gaps) < 0.2
