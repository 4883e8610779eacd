"""SNMP driver on gufo-snmp (Rust BER/USM core, asyncio API ``gufo.snmp.aio.client``).

Supported: v2c; v3 noAuthNoPriv/authNoPriv/authPriv with MD5, SHA, SHA-224/256/384/512 and
DES, AES-128/192/256 (AES-192/256 with the Blumenthal key extension, like net-snmp).

Gaps, reported as status ``error`` without sending anything:

* SNMPv3 **context names**: gufo-snmp 0.13 always sends an empty contextName, so a target
  whose ``SnmpV3.context`` is not empty needs the pysnmp driver.

How a v2c poll runs (the hot path, see ``bench/probe_throughput.py``): each target gets a
:class:`_Channel`, one gufo-snmp socket (``gufo.snmp._fast.SnmpV2cClientSocket``, the Rust
socket under ``SnmpSession``, typed by the package's ``_fast.pyi``) that stays registered
with the event loop and is reused by every poll of that target. ``SnmpSession`` itself opens
a socket per session and registers/unregisters it and arms a ``wait_for`` timer for every
reply; that cost 5x the CPU of a bare asyncio UDP loop per poll, the channel about 2x.
Channels are kept per event loop in an LRU bounded by :data:`MAX_CHANNELS` (and by a quarter
of the open-files limit). v3 polls use ``SnmpSession`` as is.

Behaviour worth knowing (asserted by the contract tests):

* gufo-snmp raises one ``SnmpAuthError`` for every USM report (usmStatsUnknownUserNames,
  usmStatsWrongDigests, usmStatsDecryptionErrors): all become ``auth_failed``.
* A closed UDP port gives ``timeout``, not ``refused``: gufo-snmp's socket does not surface
  ICMP port-unreachable.
* A garbage datagram in reply gives ``parse_error`` (gufo-snmp raises ``SnmpDecodeError``).
* v3 costs two extra round trips per poll (engine discovery and time sync) the first time
  and one (time sync) afterwards: the engine id is cached per address.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    BaseAuthKey,
    BasePrivKey,
    DesKey,
    Md5Key,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpDecodeError,
    SnmpError,
    User,
)
from gufo.snmp._fast import GetIter, SnmpV2cClientSocket
from gufo.snmp.aio.client import SnmpSession
from gufo.snmp.utils import format_sock_addr

from fleet.probes import snmp
from fleet.probes.base import failed, short_reason
from fleet.probes.types import (
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpV2c,
    SnmpV3,
    Value,
    utcnow,
)

_AUTH_KEYS: dict[str, type[BaseAuthKey]] = {
    "MD5": Md5Key,
    "SHA": Sha1Key,
    "SHA224": Sha224Key,
    "SHA256": Sha256Key,
    "SHA384": Sha384Key,
    "SHA512": Sha512Key,
}
_PRIV_KEYS: dict[str, type[BasePrivKey]] = {
    "DES": DesKey,
    "AES": Aes128Key,
    "AES192": Aes192Key,
    "AES256": Aes256Key,
}

T = TypeVar("T")

#: Upper bound of cached v2c channels (open sockets) per event loop.
MAX_CHANNELS = 8192
#: How often the v2c channels waiting for a reply are checked against their deadlines.
SWEEP_EVERY_S = 0.05


def channel_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MAX_CHANNELS, soft // 4)) if soft > 0 else MAX_CHANNELS


class _Deadlines:
    """The v2c channels of one event loop waiting for a reply, and one timer, armed while any
    waits, that fails those past their deadline with ``TimeoutError``: a poll arms no timer
    of its own (a timer per request cost a tenth of the event loop's own cost per poll). A
    deadline is noticed within :data:`SWEEP_EVERY_S` of passing."""

    __slots__ = ("loop", "timer", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: set[_Channel] = set()
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, channel: _Channel) -> None:
        self.waiting.add(channel)
        if self.timer is None:
            self.timer = self.loop.call_later(SWEEP_EVERY_S, self._sweep)

    def _sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        for channel in [c for c in self.waiting if c.deadline <= now]:
            self.waiting.discard(channel)
            waiter = channel.waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(TimeoutError())
        if self.waiting:
            self.timer = self.loop.call_later(SWEEP_EVERY_S, self._sweep)


class _Channel:
    """One agent's gufo-snmp v2c socket, registered with the event loop once, reused.

    One request at a time (``lock``). The reply is read in the readable callback itself and
    handed to the waiting poll, so a datagram is never left in the socket for the
    level-triggered reader to report twice; a reply nobody waits for any more (it came after
    a timeout) is read and dropped.
    """

    __slots__ = (
        "deadline",
        "deadlines",
        "evicted",
        "fd",
        "lock",
        "loop",
        "receive",
        "sock",
        "waiter",
    )

    def __init__(self, deadlines: _Deadlines, address: str, port: int, community: str):
        self.loop = loop = deadlines.loop
        self.deadlines = deadlines
        self.sock = SnmpV2cClientSocket(format_sock_addr(address, port), community, 0, 0, 0, 0)
        self.fd = self.sock.get_fd()
        self.lock = asyncio.Lock()
        self.waiter: asyncio.Future[Any] | None = None
        self.receive: Callable[[], Any] = self.sock.recv_get_many
        self.deadline = 0.0
        self.evicted = False
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            with contextlib.suppress(Exception):  # whatever it was, it is gone
                self.sock.recv_get_many()  # a stale datagram: drop it
            return
        try:
            reply = self.receive()
        except BlockingIOError:  # not the reply to this request (gufo-snmp checks the id)
            return
        except Exception as exc:  # a malformed reply: the poll says what it was
            waiter.set_exception(exc)
        else:
            waiter.set_result(reply)

    async def request(
        self, send: Callable[[], None], receive: Callable[[], T], deadline: float
    ) -> T:
        """Send, then wait for the reply until ``deadline`` (event-loop time)."""
        send()
        self.receive = receive
        self.waiter = waiter = self.loop.create_future()
        self.deadline = deadline
        self.deadlines.watch(self)
        try:
            reply: T = await waiter
            return reply
        finally:
            self.waiter = None
            self.deadlines.waiting.discard(self)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)


AUTH_FAILED_REASON = (
    "SNMPv3 authentication failed (unknown user name, wrong digest or decryption error)"
)


def make_user(cred: SnmpV3) -> User:
    if cred.context:
        raise ProbeConfigError(
            "gufo-snmp cannot send an SNMPv3 context name; use the pysnmp driver for this target"
        )
    auth = priv = None
    if cred.auth_protocol is not None:
        auth = _AUTH_KEYS[cred.auth_protocol]((cred.auth_key or "").encode())
    if cred.priv_protocol is not None:
        if auth is None:
            raise ProbeConfigError("SNMPv3 privacy needs an authentication protocol")
        priv = _PRIV_KEYS[cred.priv_protocol]((cred.priv_key or "").encode())
    return User(cred.user, auth_key=auth, priv_key=priv)


class GufoProbe:
    kind = "snmp"
    driver = "gufo"
    bounded = True  # collect() keeps its deadline itself (asyncio.timeout_at)

    def __init__(self) -> None:
        self._users: dict[SnmpV3, User] = {}
        self._engine_ids: dict[tuple[str, int], bytes] = {}
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop,
            tuple[_Deadlines, OrderedDict[tuple[str, int, str], _Channel]],
        ] = weakref.WeakKeyDictionary()
        self._channel_limit = channel_limit()

    def _channel(self, address: str, port: int, community: str) -> _Channel:
        loop = asyncio.get_running_loop()
        mine = self._loops.get(loop)
        if mine is None:
            mine = self._loops[loop] = (_Deadlines(loop), OrderedDict())
        deadlines, channels = mine
        key = (address, port, community)
        channel = channels.get(key)
        if channel is None:
            while len(channels) >= self._channel_limit:
                _, oldest = channels.popitem(last=False)
                oldest.evicted = True
                if not oldest.lock.locked():
                    oldest.close()  # else the poll using it closes it when done
            channel = channels[key] = _Channel(deadlines, address, port, community)
        else:
            channels.move_to_end(key)
        return channel

    def close(self) -> None:
        """Unregister this event loop's channels (tests, shutdown)."""
        mine = self._loops.pop(asyncio.get_running_loop(), None)
        if mine is None:
            return
        deadlines, channels = mine
        if deadlines.timer is not None:
            deadlines.timer.cancel()
        for channel in channels.values():
            channel.close()

    async def _poll_v2c(
        self,
        target: ProbeTarget,
        port: int,
        cred: SnmpV2c,
        oids: list[str],
        max_rep: int,
        deadline: float,
    ) -> tuple[dict[str, Value | bytes | None], list[tuple[str, Value | bytes | None]]]:
        """GET then walk ifOperStatus on the target's channel; every wait ends by
        ``deadline`` (the channel's own, or a timeout while another poll holds it)."""
        channel = self._channel(target.address, port, cred.community)
        lock = channel.lock
        try:
            if lock.locked():  # another poll of the same agent (a probe-now): wait, bounded
                async with asyncio.timeout_at(deadline):
                    await lock.acquire()
            else:
                await lock.acquire()
            try:
                return await self._walk_channel(channel, oids, max_rep, deadline)
            finally:
                lock.release()
        finally:
            if channel.evicted and not lock.locked():
                channel.close()

    @staticmethod
    async def _walk_channel(
        channel: _Channel, oids: list[str], max_rep: int, deadline: float
    ) -> tuple[dict[str, Value | bytes | None], list[tuple[str, Value | bytes | None]]]:
        sock = channel.sock
        got: dict[str, Value | bytes | None] = dict(
            await channel.request(lambda: sock.send_get_many(oids), sock.recv_get_many, deadline)
        )
        walk: list[tuple[str, Value | bytes | None]] = []
        ctx = GetIter(snmp.IF_OPER_STATUS, max_rep)
        for _ in range(snmp.MAX_WALK_REQUESTS):
            rows = await channel.request(
                lambda: sock.send_get_bulk(ctx), lambda: sock.recv_get_bulk(ctx), deadline
            )
            for row in rows:
                if row is None:  # left the column: done
                    return got, walk
                walk.append(row)
            if not rows:
                return got, walk
        raise snmp.SnmpParseError("ifOperStatus walk does not end")

    def _user(self, cred: SnmpV3) -> User:
        user = self._users.get(cred)
        if user is None:
            user = self._users[cred] = make_user(cred)
        return user

    @staticmethod
    async def _poll_session(
        session: SnmpSession, oids: list[str], max_rep: int
    ) -> tuple[dict[str, Value | bytes | None], list[tuple[str, Value | bytes | None]]]:
        got: dict[str, Value | bytes | None] = dict(await session.get_many(oids))
        walk: list[tuple[str, Value | bytes | None]] = []
        async for oid, value in session.getbulk(snmp.IF_OPER_STATUS, max_rep):
            walk.append((oid, value))
            if len(walk) > snmp.MAX_WALK_REQUESTS * max_rep:
                raise snmp.SnmpParseError("ifOperStatus walk does not end")
        return got, walk

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout
        opts = snmp.options(target)
        oids = snmp.get_oids(target)
        port = target.port_for("snmp")
        cred = opts.credentials
        key = (target.address, port)
        try:
            if isinstance(cred, SnmpV2c):  # every wait bounded by the deadline (see _Deadlines)
                got, walk = await self._poll_v2c(
                    target, port, cred, oids, opts.max_repetitions, deadline
                )
            else:
                async with asyncio.timeout_at(deadline):
                    session = SnmpSession(
                        target.address,
                        port,
                        user=self._user(cred),
                        engine_id=self._engine_ids.get(key),
                        timeout=timeout,
                        max_repetitions=opts.max_repetitions,
                    )
                    await session.refresh()
                    self._engine_ids[key] = session.get_engine_id()
                    got, walk = await self._poll_session(session, oids, opts.max_repetitions)
            base = Reading(
                kind=self.kind,
                device_id=target.device_id,
                status=ProbeStatus.ERROR,
                started_at=started_at,
            )
            reading = snmp.build_reading(target, got, walk, base)
        except TimeoutError:
            return failed(
                self.kind, target, ProbeStatus.TIMEOUT, snmp.timeout_reason(target), started_at, t0
            )
        except SnmpAuthError:
            self._engine_ids.pop(key, None)
            return failed(
                self.kind, target, ProbeStatus.AUTH_FAILED, AUTH_FAILED_REASON, started_at, t0
            )
        except (SnmpDecodeError, snmp.SnmpParseError, UnicodeDecodeError) as exc:
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
        except (SnmpError, OSError) as exc:
            return failed(self.kind, target, ProbeStatus.ERROR, short_reason(exc), started_at, t0)
        reading.duration_ms = (time.perf_counter() - t0) * 1000
        return reading
