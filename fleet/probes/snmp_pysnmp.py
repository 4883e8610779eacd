"""SNMP driver on pysnmp 7 (asyncio hlapi, v3arch): the reference implementation.

One ``SnmpEngine`` per event loop (so one per process in the service), reused by every poll;
credentials, transport targets and resolved var-binds are cached, MIB lookup is off.
Supports v2c and v3 with MD5, SHA, SHA-224/256/384/512 and DES, AES-128/192/256 (AES-192/256
with the Blumenthal key extension, like net-snmp), and SNMPv3 context names.

Behaviour worth knowing (asserted by the contract tests):

* USM reports map to ``auth_failed``: unknown user name, wrong digest, decryption error.
* The engine's single unconnected UDP socket does not see ICMP port-unreachable, so a closed
  port gives ``timeout``.
* A garbage datagram is dropped by pysnmp's message dispatcher (it cannot be matched to a
  request), so a malformed reply gives ``timeout``.
* pysnmp keeps each distinct community/target in its engine tables: fine for an inventory of
  a few thousand devices, but CPU per poll grows with their number (see the benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import weakref
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_AUTH_NONE,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES_BLUMENTHAL,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject
from pysnmp.smi.view import MibViewController

from fleet.probes import snmp
from fleet.probes.base import failed, short_reason
from fleet.probes.types import (
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpCredentials,
    SnmpV2c,
    SnmpV3,
    Value,
    utcnow,
)

#: Receive buffer asked for the engine's socket (bytes).
RCVBUF = 4 << 20

_AUTH = {
    None: USM_AUTH_NONE,
    "MD5": USM_AUTH_HMAC96_MD5,
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256,
    "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    None: USM_PRIV_NONE,
    "DES": USM_PRIV_CBC56_DES,
    "AES": USM_PRIV_CFB128_AES,
    "AES192": USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES256": USM_PRIV_CFB256_AES_BLUMENTHAL,
}

_AUTH_FAILURES = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.UnknownCommunityName,
)
_PARSE_FAILURES = (errind.DeserializationError, errind.OidNotIncreasing, errind.EmptyResponse)


class _Failure(Exception):
    def __init__(self, status: ProbeStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _value(value: Any) -> Value | bytes | None:
    """A pysnmp value as a plain Python value (None for noSuchObject/Instance, endOfMibView)."""
    if isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView):
        return None
    tag = value.__class__.__name__
    if tag in {"OctetString", "DisplayString", "Opaque", "Bits"}:
        return bytes(value.asOctets())
    if tag in {"ObjectIdentifier", "ObjectName", "IpAddress"}:
        return value.prettyPrint()  # type: ignore[no-any-return]
    if tag == "Null":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value.prettyPrint()  # type: ignore[no-any-return]


def _check(error_indication: Any, error_status: Any, error_index: Any) -> None:
    if error_indication:
        text = str(error_indication)
        if isinstance(error_indication, errind.RequestTimedOut):
            raise TimeoutError(text)
        if isinstance(error_indication, _AUTH_FAILURES):
            raise _Failure(ProbeStatus.AUTH_FAILED, f"SNMPv3 authentication failed: {text}")
        if isinstance(error_indication, _PARSE_FAILURES):
            raise _Failure(ProbeStatus.PARSE_ERROR, f"malformed SNMP reply: {text}")
        raise _Failure(ProbeStatus.ERROR, text)
    if error_status and int(error_status) != 0:
        raise _Failure(
            ProbeStatus.ERROR, f"agent error {error_status.prettyPrint()} at {int(error_index)}"
        )


class _LoopState:
    """Per event loop: the engine and caches bound to it.

    The engine gets its UDP socket from us, with a receive buffer of :data:`RCVBUF`: every
    reply to every poll lands on this one socket, and pysnmp decodes slowly enough (a few ms
    per poll) that a burst of ~200 replies overflows the default buffer (measured: ~20% of
    polls retried at 200 in flight). The kernel caps the size at ``net.core.rmem_max``.
    """

    def __init__(self) -> None:
        self.engine = SnmpEngine()
        self.targets: dict[tuple[str, int, float], UdpTransportTarget] = {}
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind(("0.0.0.0", 0))  # noqa: S104 (a client socket: any source address, any port)
        transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
        config.add_transport(self.engine, udp.DOMAIN_NAME, transport)


class PysnmpProbe:
    kind = "snmp"
    driver = "pysnmp"

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._auth: dict[SnmpCredentials, CommunityData | UsmUserData] = {}
        self._contexts: dict[str, ContextData] = {}
        self._varbinds: dict[tuple[str, ...], tuple[ObjectType, ...]] = {}
        self._mib_view: MibViewController | None = None

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        return state

    def close(self) -> None:
        """Close the engines' sockets (tests, shutdown)."""
        for state in list(self._states.values()):
            state.engine.close_dispatcher()
        self._states.clear()

    def _auth_data(self, cred: SnmpCredentials) -> CommunityData | UsmUserData:
        auth = self._auth.get(cred)
        if auth is None:
            if isinstance(cred, SnmpV2c):
                auth = CommunityData(cred.community, mpModel=1)  # noqa: S508 (v2c devices exist)
            else:
                if cred.priv_protocol is not None and cred.auth_protocol is None:
                    raise ProbeConfigError("SNMPv3 privacy needs an authentication protocol")
                auth = UsmUserData(
                    cred.user,
                    authKey=cred.auth_key if cred.auth_protocol else None,
                    privKey=cred.priv_key if cred.priv_protocol else None,
                    authProtocol=_AUTH[cred.auth_protocol],
                    privProtocol=_PRIV[cred.priv_protocol],
                )
            self._auth[cred] = auth
        return auth

    def _context(self, cred: SnmpCredentials) -> ContextData:
        name = cred.context if isinstance(cred, SnmpV3) else ""
        ctx = self._contexts.get(name)
        if ctx is None:
            ctx = self._contexts[name] = ContextData(contextName=name.encode())
        return ctx

    async def _target(
        self, state: _LoopState, address: str, port: int, request_timeout: float
    ) -> UdpTransportTarget:
        key = (address, port, request_timeout)
        target = state.targets.get(key)
        if target is None:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:  # a name: resolve it (once) the library's way
                target = await UdpTransportTarget.create((address, port), request_timeout, 0)
            else:  # an IPv4 literal: skip getaddrinfo (a thread hop per poll otherwise)
                target = UdpTransportTarget.__new__(UdpTransportTarget)
                target.transport_address = (address, port)
                target.__init__(timeout=request_timeout, retries=0)
            state.targets[key] = target
        return target

    def _resolved(self, engine: SnmpEngine, oids: tuple[str, ...]) -> tuple[ObjectType, ...]:
        varbinds = self._varbinds.get(oids)
        if varbinds is None:
            if self._mib_view is None:
                self._mib_view = MibViewController(engine.get_mib_builder())
            varbinds = tuple(
                ObjectType(ObjectIdentity(oid)).resolve_with_mib(self._mib_view) for oid in oids
            )
            self._varbinds[oids] = varbinds
        return varbinds

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout
        opts = snmp.options(target)
        cred = opts.credentials
        oids = tuple(snmp.get_oids(target))
        try:
            state = self._state()
            engine = state.engine
            auth = self._auth_data(cred)
            ctx = self._context(cred)
            async with asyncio.timeout_at(deadline):
                transport = await self._target(
                    state, target.address, target.port_for("snmp"), timeout
                )
                ind, status, index, varbinds = await get_cmd(
                    engine, auth, transport, ctx, *self._resolved(engine, oids), lookupMib=False
                )
                _check(ind, status, index)
                got = {str(name): _value(value) for name, value in varbinds}
                walk = await self._walk(engine, auth, transport, ctx, opts.max_repetitions)
            return snmp.reading_of(self.kind, target, got, walk, started_at, t0)
        except TimeoutError:
            return failed(
                self.kind, target, ProbeStatus.TIMEOUT, snmp.timeout_reason(target), started_at, t0
            )
        except _Failure as exc:
            return failed(self.kind, target, exc.status, exc.reason, started_at, t0)
        except snmp.SnmpParseError as exc:
            return failed(
                self.kind,
                target,
                ProbeStatus.PARSE_ERROR,
                f"malformed SNMP reply: {short_reason(exc)}",
                started_at,
                t0,
            )
        except ConnectionRefusedError:
            return failed(
                self.kind, target, ProbeStatus.REFUSED, "port unreachable (ICMP)", started_at, t0
            )

    async def _walk(
        self,
        engine: SnmpEngine,
        auth: CommunityData | UsmUserData,
        transport: UdpTransportTarget,
        ctx: ContextData,
        max_repetitions: int,
    ) -> list[tuple[str, Value | bytes | None]]:
        """GETBULK ifOperStatus until the subtree ends (one request when it fits)."""
        rows: list[tuple[str, Value | bytes | None]] = []
        start = snmp.IF_OPER_STATUS
        for _ in range(snmp.MAX_WALK_REQUESTS):
            ind, status, index, varbinds = await bulk_cmd(
                engine,
                auth,
                transport,
                ctx,
                0,
                max_repetitions,
                *self._resolved(engine, (start,)),
                lookupMib=False,
            )
            _check(ind, status, index)
            if not varbinds:
                return rows
            for name, value in varbinds:
                oid = str(name)
                if not snmp.in_subtree(oid, snmp.IF_OPER_STATUS) or isinstance(value, EndOfMibView):
                    return rows
                rows.append((oid, _value(value)))
            if len(varbinds) < max_repetitions:
                return rows
            start = str(varbinds[-1][0])
        raise snmp.SnmpParseError("ifOperStatus walk does not end")
