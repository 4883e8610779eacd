"""SSH probe on netmiko: read firmware and health from ``show version``-style commands.

* Only commands on the platform's allow-list run; anything else is refused before
  connecting (``ProbeConfigError``: status error, never retried).
* Netmiko blocks, so each probe runs in a dedicated, bounded thread pool
  (:data:`MAX_WORKERS` threads): the event loop never blocks, and a probe cancelled while
  still queued never starts. A started probe ends within netmiko's own timeouts, which are
  all set from the probe timeout.
* Host keys are checked by our own paramiko ``MissingHostKeyPolicy`` (netmiko's default
  accepts anything). Paramiko consults it after key exchange and before authentication, so
  on a mismatch no password is sent and no command runs. The key seen is always reported
  (``host_key`` as ``"<type> <base64>"``, plus ``values["host_key_sha256"]``) for
  pin-on-first-use. A pin may be either form. With a ``"<type> <base64>"`` pin only that key
  type is negotiated, so a server with several keys cannot slip another one in.
* Output is parsed with TextFSM: fleet's own templates (:mod:`fleet.probes.ssh_templates`)
  first, then ntc-templates. Any TextFSM error becomes ``parse_error``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import paramiko  # type: ignore[import-untyped]  # no stubs in the pinned set
import textfsm
from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)
from ntc_templates.parse import ParsingException, parse_output
from textfsm import clitable

from fleet.probes.base import failed, short_reason, truncate
from fleet.probes.ssh_templates import TEMPLATES
from fleet.probes.types import (
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SshOptions,
    Value,
    utcnow,
)

#: Threads running netmiko sessions at once (per process).
MAX_WORKERS = 16


@dataclass(frozen=True, slots=True)
class SshPlatform:
    """What fleet may run on a netmiko platform. Data, not code: add a platform here."""

    health_commands: tuple[str, ...]
    allowed: frozenset[str]
    enable: bool = False  # enter privileged mode first (fakenos' cisco_ios needs it)
    #: Used when the template leaves the version empty (e.g. a banner wrapped over two lines).
    version_regex: str | None = None


_CISCO_SHOW = frozenset(
    {
        "show version",
        "show inventory",
        "show interfaces",
        "show ip interface brief",
        "show processes cpu",
        "show environment",
    }
)

_IOS_VER = r"^Cisco IOS.*?,\s+Version\s+([^\s,]+)"

PLATFORMS: dict[str, SshPlatform] = {
    "cisco_ios": SshPlatform(("show version",), _CISCO_SHOW, enable=True, version_regex=_IOS_VER),
    "cisco_xe": SshPlatform(("show version",), _CISCO_SHOW, enable=True, version_regex=_IOS_VER),
    "cisco_nxos": SshPlatform(("show version",), frozenset({"show version", "show inventory"})),
    "arista_eos": SshPlatform(("show version",), frozenset({"show version", "show inventory"})),
    "juniper_junos": SshPlatform(("show version",), frozenset({"show version"})),
    "linux": SshPlatform(
        ("uname -a", "cat /etc/os-release", "uptime"),
        frozenset({"uname -a", "cat /etc/os-release", "uptime"}),
    ),
}

#: The platform whose TextFSM templates apply (netmiko variants share templates).
TEMPLATE_PLATFORM = {"cisco_xe": "cisco_ios"}


class HostKeyMismatch(Exception):
    def __init__(self, seen: str) -> None:
        super().__init__("server host key differs from the pinned key")
        self.seen = seen


class SshParseError(Exception):
    pass


def public_key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(key_b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _key_type_family(key_type: str) -> set[str]:
    if key_type == "ssh-rsa":
        return {"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"}
    return {key_type}


class PinningPolicy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Records the server key; rejects it when it differs from the pin."""

    def __init__(self, pinned: str | None) -> None:
        self.pinned = " ".join(pinned.split()[:2]) if pinned else None
        self.seen: str | None = None

    def matches(self, key: paramiko.PKey) -> bool:
        if self.pinned is None:
            return True
        if self.pinned.startswith("SHA256:"):
            return fingerprint(key.get_base64()) == self.pinned
        return public_key_text(key) == self.pinned

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.seen = public_key_text(key)
        if not self.matches(key):
            raise HostKeyMismatch(self.seen)
        client.get_host_keys().add(hostname, key.get_name(), key)


def disabled_key_algorithms(pinned: str | None) -> dict[str, list[str]] | None:
    """Negotiate only the pinned key's type (an ``"<type> <base64>"`` pin)."""
    if not pinned or pinned.startswith("SHA256:"):
        return None
    allowed = _key_type_family(pinned.split()[0])
    disabled = [k for k in paramiko.Transport._preferred_keys if k not in allowed]
    return {"keys": disabled}


def load_private_key(text: str) -> paramiko.PKey:
    last: Exception | None = None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            last = exc
    raise ProbeConfigError(f"unreadable SSH private key ({type(last).__name__})")


def check_commands(opts: SshOptions) -> tuple[SshPlatform, tuple[str, ...]]:
    """The platform and the commands to run; refuses anything not allowed."""
    platform = PLATFORMS.get(opts.platform)
    if platform is None:
        raise ProbeConfigError(f"SSH platform {opts.platform!r} is not supported")
    commands = opts.commands if opts.commands is not None else platform.health_commands
    for command in commands:
        if " ".join(command.split()) not in platform.allowed:
            raise ProbeConfigError(
                f"command {command!r} is not allowed on {opts.platform}; allowed: "
                + ", ".join(sorted(platform.allowed))
            )
    return platform, tuple(" ".join(c.split()) for c in commands)


# --- parsing ---------------------------------------------------------------------------------


def parse_command(platform: str, command: str, output: str) -> list[dict[str, Any]] | None:
    """Rows parsed by TextFSM, or None when no template covers the command."""
    template_platform = TEMPLATE_PLATFORM.get(platform, platform)
    try:
        own = TEMPLATES.get((template_platform, command))
        if own is not None:
            fsm = textfsm.TextFSM(io.StringIO(own))
            header = [h.lower() for h in fsm.header]
            return [dict(zip(header, row, strict=True)) for row in fsm.ParseText(output)]
        try:
            rows = parse_output(platform=template_platform, command=command, data=output)
        except clitable.CliTableError as exc:
            if "No template found" in str(exc):
                return None
            raise
        return list(rows)
    except (textfsm.TextFSMError, textfsm.TextFSMTemplateError, ParsingException) as exc:
        raise SshParseError(f"{command}: {short_reason(exc)}") from exc
    except clitable.CliTableError as exc:
        raise SshParseError(f"{command}: {short_reason(exc)}") from exc


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _uptime_seconds(row: dict[str, Any]) -> float | None:
    units = {
        "uptime_years": 365 * 86400,
        "uptime_weeks": 7 * 86400,
        "uptime_days": 86400,
        "uptime_hours": 3600,
        "uptime_minutes": 60,
    }
    if not any(row.get(name) for name in units):
        return None
    return float(sum(_int(row.get(name)) * size for name, size in units.items()))


def _value(value: Any) -> Value | None:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value if v)
    if value in (None, ""):
        return None
    return truncate(str(value))


def apply_rows(command: str, rows: list[dict[str, Any]], reading: Reading) -> None:
    """Fold one command's parsed rows into the reading (first row: device-level facts)."""
    if not rows:
        raise SshParseError(f"{command}: the template matched nothing")
    row = rows[0]
    version = row.get("version")
    if version and reading.firmware_version is None:
        reading.firmware_version = str(version)
    uptime = _uptime_seconds(row)
    if uptime is not None:
        reading.uptime_seconds = uptime
    for name, raw in row.items():
        if name == "version" or name.startswith("uptime_"):
            continue
        value = _value(raw)
        if value is not None:
            reading.values[name] = value
    if len(rows) > 1:
        reading.values[f"rows:{command}"] = len(rows)


# --- the blocking part -----------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    host_key: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _run_session(
    target: ProbeTarget,
    opts: SshOptions,
    platform: SshPlatform,
    commands: tuple[str, ...],
    timeout: float,
) -> _Session:
    """Connect, check the host key, run the commands. Runs in a worker thread."""
    session = _Session()
    policy = PinningPolicy(opts.host_key)
    cred = opts.credentials
    pkey = load_private_key(cred.private_key) if cred.private_key else None
    params: dict[str, Any] = {
        "device_type": opts.platform,
        "host": target.address,
        "port": target.port_for("ssh"),
        "username": cred.username,
        "password": cred.password or "",
        "secret": opts.secret if opts.secret is not None else (cred.password or ""),
        "pkey": pkey,
        "use_keys": pkey is not None,
        "allow_agent": False,
        "ssh_strict": True,
        "system_host_keys": False,
        "alt_host_keys": False,
        "conn_timeout": timeout,
        "auth_timeout": timeout,
        "banner_timeout": timeout,
        "blocking_timeout": max(1.0, timeout),
        "read_timeout_override": timeout,
        "disabled_algorithms": disabled_key_algorithms(opts.host_key),
        "auto_connect": False,
        "fast_cli": True,
    }
    conn = ConnectHandler(**params)
    conn.key_policy = policy  # checked after key exchange, before authentication
    try:
        conn._open()  # the connect step that auto_connect=False defers
        session.host_key = policy.seen
        if platform.enable and not conn.check_enable_mode():
            try:
                conn.enable()
            except (ValueError, ReadTimeout) as exc:
                raise NetmikoAuthenticationException("enable failed") from exc
        for command in commands:
            output = conn.send_command(command, read_timeout=timeout)
            session.outputs[command] = str(output)
    except BaseException as exc:  # handed back to the event loop to classify
        session.host_key = session.host_key or policy.seen
        session.error = exc
    finally:
        with contextlib.suppress(Exception):
            if getattr(conn, "remote_conn", None) is not None:
                conn.disconnect()
            else:
                conn.paramiko_cleanup()
    return session


def classify(exc: BaseException) -> tuple[ProbeStatus, str]:
    """Status and short reason for an exception out of a netmiko session."""
    causes = list(_causes(exc))
    for cause in list(causes):
        if isinstance(cause, paramiko.ssh_exception.NoValidConnectionsError):
            causes += list(cause.errors.values())  # one socket error per address tried
    for cause in causes:
        if isinstance(cause, paramiko.ssh_exception.IncompatiblePeer) and "host key" in str(cause):
            # only the pinned key type was offered to the server, and it has none of that type
            return ProbeStatus.HOST_KEY_MISMATCH, "server has no host key of the pinned type"
        if isinstance(cause, HostKeyMismatch):
            return ProbeStatus.HOST_KEY_MISMATCH, "server host key differs from the pinned key"
        if isinstance(cause, ConnectionRefusedError):
            return ProbeStatus.REFUSED, "TCP connection refused"
        if isinstance(cause, socket.timeout | TimeoutError):
            return ProbeStatus.TIMEOUT, "no answer (TCP connect timed out)"
    if isinstance(exc, NetmikoAuthenticationException):
        return ProbeStatus.AUTH_FAILED, "enable failed" if "enable" in str(exc) else (
            "authentication failed"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return ProbeStatus.AUTH_FAILED, "authentication failed"
    if isinstance(exc, ReadTimeout):
        return ProbeStatus.TIMEOUT, "command output timed out"
    if isinstance(exc, NetmikoTimeoutException):
        text = str(exc)
        if "banner" in text or "timed out" in text.lower() or "No existing session" in text:
            return ProbeStatus.TIMEOUT, "SSH handshake timed out"
        return ProbeStatus.ERROR, "SSH failure: " + " ".join(text.split())[:150]
    if isinstance(exc, ProbeConfigError):
        return ProbeStatus.ERROR, str(exc)
    return ProbeStatus.ERROR, short_reason(exc)


class SshProbe:
    kind = "ssh"
    driver = "netmiko"

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="fleet-ssh"
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        opts = target.ssh
        if opts is None:
            raise ProbeConfigError("target has no SSH options")
        platform, commands = check_commands(opts)  # before any connection
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, probe_blocking, target, opts, platform, commands, timeout
        )


def probe_blocking(
    target: ProbeTarget,
    opts: SshOptions,
    platform: SshPlatform,
    commands: tuple[str, ...],
    timeout: float,
) -> Reading:
    """The whole probe, session and parsing, in a worker thread."""
    started_at = utcnow()
    t0 = time.perf_counter()
    session = _run_session(target, opts, platform, commands, timeout)
    if session.error is not None:
        status, reason = classify(session.error)
        reading = failed("ssh", target, status, reason, started_at, t0)
        reading.host_key = session.host_key
        return reading
    reading = Reading(
        kind="ssh",
        device_id=target.device_id,
        status=ProbeStatus.OK,
        started_at=started_at,
        host_key=session.host_key,
    )
    if session.host_key:
        reading.values["host_key_sha256"] = fingerprint(session.host_key.split()[1])
    try:
        for command in commands:
            rows = parse_command(opts.platform, command, session.outputs[command])
            if rows is not None:
                apply_rows(command, rows, reading)
        if reading.firmware_version is None and platform.version_regex:
            for command in commands:
                match = re.search(platform.version_regex, session.outputs[command], re.MULTILINE)
                if match:
                    reading.firmware_version = match.group(1)
                    break
        if (
            reading.firmware_version is None
            and platform.version_regex
            and "show version" in commands
        ):
            raise SshParseError("show version: no firmware version in the output")
    except SshParseError as exc:
        reading.status = ProbeStatus.PARSE_ERROR
        reading.reason = truncate(str(exc))
    reading.duration_ms = (time.perf_counter() - t0) * 1000
    return reading
