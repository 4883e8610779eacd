"""Typed shapes shared by every probe driver: credentials, targets and readings.

Credentials are plain dataclasses holding secrets as ``str`` (the caller decrypts them just
before a probe). Their ``repr`` never shows a secret, so a target can be logged safely.
Every driver, whatever its kind, returns the same :class:`Reading`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

ProbeKind = Literal["snmp", "ssh", "http", "tcp"]
AuthProtocol = Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"]
PrivProtocol = Literal["AES", "AES192", "AES256", "DES"]
Value = str | int | float

_HIDDEN = "'***'"


def _safe_repr(obj: object, secrets: frozenset[str]) -> str:
    """``repr`` of a dataclass with the named fields masked (``None`` stays visible)."""
    parts = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        shown = _HIDDEN if f.name in secrets and value is not None else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(frozen=True, slots=True, repr=False)
class SnmpV2c:
    """SNMP v2c community."""

    community: str

    def __repr__(self) -> str:
        return _safe_repr(self, frozenset({"community"}))


@dataclass(frozen=True, slots=True, repr=False)
class SnmpV3:
    """SNMP v3 USM user; ``auth_protocol=None`` means noAuthNoPriv, ``priv_protocol=None`` no
    privacy. AES192/AES256 use the Blumenthal key extension (as net-snmp does)."""

    user: str
    auth_protocol: AuthProtocol | None = None
    auth_key: str | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: str | None = None
    context: str = ""

    def __repr__(self) -> str:
        return _safe_repr(self, frozenset({"auth_key", "priv_key"}))


SnmpCredentials = SnmpV2c | SnmpV3


@dataclass(frozen=True, slots=True, repr=False)
class SshCredentials:
    """SSH login: a password, a private key (PEM/OpenSSH text), or both."""

    username: str
    password: str | None = None
    private_key: str | None = None

    def __repr__(self) -> str:
        return _safe_repr(self, frozenset({"password", "private_key"}))


@dataclass(frozen=True, slots=True, repr=False)
class HttpCredentials:
    """HTTP authentication: a bearer token, or basic username/password."""

    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return _safe_repr(self, frozenset({"bearer_token", "password"}))


@dataclass(frozen=True, slots=True)
class SnmpOptions:
    """What to ask an SNMP agent. ``extra_oids`` is the per-model "module" (name -> numeric
    OID, no leading dot) fetched in the same GET as sysUpTime/sysDescr. ``max_repetitions``
    sizes the ifOperStatus GETBULK: larger than the number of interfaces means one packet."""

    credentials: SnmpCredentials
    extra_oids: dict[str, str] = field(default_factory=dict)
    max_repetitions: int = 32


@dataclass(frozen=True, slots=True)
class SshOptions:
    """SSH probe options. ``platform`` is a netmiko device_type. ``host_key`` is the pinned
    server key as ``"<type> <base64>"`` (None: accept and report it, pin on first use).
    ``commands`` defaults to the platform's health commands."""

    platform: str
    credentials: SshCredentials
    host_key: str | None = None
    commands: tuple[str, ...] | None = None
    secret: str | None = field(default=None, repr=False)  # enable secret, when it differs


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """HTTP health endpoint: ``{scheme}://{address}:{port}{path}``."""

    path: str = "/health"
    scheme: Literal["http", "https"] = "https"
    verify_tls: bool = True
    credentials: HttpCredentials | None = None
    expect_json: bool = True
    expected_status: int | None = None  # None: any 2xx


DEFAULT_PORTS: dict[str, int] = {"snmp": 161, "ssh": 22, "http": 443, "tcp": 22}


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One device as a probe sees it. ``port=None`` means the kind's default port."""

    device_id: int
    address: str
    port: int | None = None
    snmp: SnmpOptions | None = None
    ssh: SshOptions | None = None
    http: HttpOptions | None = None
    interface_index: int | None = None
    ports: dict[str, int] = field(default_factory=dict)  # per kind, before ``port``

    def port_for(self, kind: str) -> int:
        """The port to use for ``kind`` (HTTP defaults to 80 for plain http)."""
        if kind in self.ports:
            return self.ports[kind]
        if self.port is not None:
            return self.port
        if kind == "http" and self.http is not None and self.http.scheme == "http":
            return 80
        return DEFAULT_PORTS[kind]


class ProbeStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    REFUSED = "refused"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    PARSE_ERROR = "parse_error"
    ERROR = "error"


@dataclass(slots=True)
class InterfaceReading:
    """One interface: ``oper_status`` is the IF-MIB name (up, down, testing, ...)."""

    index: int
    oper_status: str
    in_octets: int | None = None
    out_octets: int | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Reading:
    """The result of one probe of one device, whatever the kind and outcome."""

    kind: str
    device_id: int
    status: ProbeStatus
    started_at: datetime
    duration_ms: float = 0.0
    reason: str = ""
    uptime_seconds: float | None = None
    sys_descr: str | None = None
    firmware_version: str | None = None
    interfaces: list[InterfaceReading] = field(default_factory=list)
    values: dict[str, Value] = field(default_factory=dict)
    host_key: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is ProbeStatus.OK


class ProbeFailure(Exception):
    """Raised inside a driver to end a probe with a given status and a short reason."""

    def __init__(self, status: ProbeStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ProbeConfigError(Exception):
    """The target cannot be probed as configured (e.g. a command not allowed); never retried."""
