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
reply, which cost far more CPU per poll than the channel (figures in ``bench/README.md``).
Channels are kept per event loop in an LRU bounded by :data:`MAX_CHANNELS` (and by a quarter
of the open-files limit). The poll itself (:class:`_Poll`: GET, then GETBULK until the
ifOperStatus column ends) runs on the channel's readable callbacks: :meth:`GufoProbe.start`
hands it to the scheduler with a callback for the reading, :meth:`GufoProbe.collect` awaits
the same poll. v3 polls use ``SnmpSession`` as is.

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
from datetime import datetime
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

# gufo-snmp 0.13 has no public API for its reusable v2c socket or request iterator (neither
# is exported; SnmpSession opens a socket per session): typed by the package's _fast.pyi.
from gufo.snmp._fast import GetIter, SnmpV2cClientSocket
from gufo.snmp.aio.client import SnmpSession
from gufo.snmp.utils import format_sock_addr

from fleet.limits import Limit
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
            channel.expire()
        if self.waiting:
            self.timer = self.loop.call_later(SWEEP_EVERY_S, self._sweep)


def _ignore(_: object) -> None:
    return None


class _Channel:
    """One agent's gufo-snmp v2c socket, registered with the event loop once, reused.

    One request at a time: a poll holds the channel's ``turn`` from its first request to its
    last. :meth:`expect` names what to do with the reply: the reply is read in the readable
    callback itself and handed on (so a datagram is never left in the socket for the
    level-triggered reader to report twice), or the error is, a timeout included. A reply
    nobody waits for any more (it came after a timeout) is read and dropped.
    """

    __slots__ = (
        "deadline",
        "deadlines",
        "evicted",
        "expecting",
        "fd",
        "loop",
        "on_error",
        "on_reply",
        "receive",
        "sock",
        "turn",
    )

    def __init__(self, deadlines: _Deadlines, address: str, port: int, community: str):
        self.loop = loop = deadlines.loop
        self.deadlines = deadlines
        self.sock = SnmpV2cClientSocket(format_sock_addr(address, port), community, 0, 0, 0, 0)
        self.fd = self.sock.get_fd()
        self.turn = Limit(1)
        self.expecting = False
        self.receive: Callable[[], Any] = self.sock.recv_get_many
        self.on_reply: Callable[[Any], None] = _ignore
        self.on_error: Callable[[BaseException], None] = _ignore
        self.deadline = 0.0
        self.evicted = False
        loop.add_reader(self.fd, self._readable)

    def expect(
        self,
        receive: Callable[[], T],
        on_reply: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        deadline: float,
    ) -> None:
        """After a request was sent: ``on_reply(receive())`` when its reply comes, else
        ``on_error(exc)`` (``TimeoutError`` at ``deadline``, event-loop time)."""
        self.receive, self.on_reply, self.on_error = receive, on_reply, on_error
        self.deadline = deadline
        self.expecting = True
        self.deadlines.watch(self)

    def settle(self) -> None:
        """Expect nothing more (the reply came, or its waiter gave up)."""
        self.expecting = False
        self.deadlines.waiting.discard(self)

    def expire(self) -> None:
        self.settle()
        self.on_error(TimeoutError())

    def _readable(self) -> None:
        if not self.expecting:
            with contextlib.suppress(Exception):  # whatever it was, it is gone
                self.sock.recv_get_many()  # a stale datagram: drop it
            return
        try:
            reply = self.receive()
        except BlockingIOError:  # not the reply to this request (gufo-snmp checks the id)
            return
        except Exception as exc:  # a malformed reply: the poll says what it was
            self.settle()
            self.on_error(exc)
        else:
            self.settle()
            self.on_reply(reply)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)


class _Poll:
    """One v2c poll driven by the channel's callbacks, with no task, coroutine or future of
    its own: GET, then GETBULK of ifOperStatus until the column ends; ``done`` is called once
    with the reading, whatever happens. It holds the channel's turn until then."""

    __slots__ = (
        "channel",
        "ctx",
        "deadline",
        "done",
        "got",
        "probe",
        "requests",
        "started_at",
        "t0",
        "target",
        "walk",
    )

    def __init__(
        self,
        probe: GufoProbe,
        channel: _Channel,
        target: ProbeTarget,
        max_rep: int,
        deadline: float,
        done: Callable[[Reading], None],
        started_at: datetime,
        t0: float,
    ) -> None:
        self.probe, self.channel, self.target = probe, channel, target
        self.deadline, self.done = deadline, done
        self.started_at, self.t0 = started_at, t0
        self.got: dict[str, Value | bytes | None] = {}
        self.walk: list[tuple[str, Value | bytes | None]] = []
        self.ctx = GetIter(snmp.IF_OPER_STATUS, max_rep)
        self.requests = 0

    def start(self, oids: list[str]) -> None:
        sock = self.channel.sock
        try:
            sock.send_get_many(oids)
        except Exception as exc:
            self.fail(exc)
            return
        self.channel.expect(sock.recv_get_many, self._got, self.fail, self.deadline)

    def _got(self, reply: dict[str, Value | bytes | None]) -> None:
        self.got = reply
        self._next()

    def _next(self) -> None:
        if self.requests >= snmp.MAX_WALK_REQUESTS:
            self.fail(snmp.SnmpParseError("ifOperStatus walk does not end"))
            return
        self.requests += 1
        sock, ctx = self.channel.sock, self.ctx
        try:
            sock.send_get_bulk(ctx)
        except Exception as exc:
            self.fail(exc)
            return
        self.channel.expect(lambda: sock.recv_get_bulk(ctx), self._rows, self.fail, self.deadline)

    def _rows(self, rows: list[tuple[str, Value | bytes | None] | None]) -> None:
        walk = self.walk
        for row in rows:
            if row is None:  # left the column: done
                self._finish()
                return
            walk.append(row)
        if rows:
            self._next()
        else:
            self._finish()

    def _finish(self) -> None:
        try:
            reading = snmp.reading_of(
                self.probe.kind, self.target, self.got, self.walk, self.started_at, self.t0
            )
        except Exception as exc:
            self.fail(exc)
            return
        self._end(reading)

    def fail(self, exc: BaseException) -> None:
        self._end(self.probe.failure(exc, self.target, self.started_at, self.t0))

    def _end(self, reading: Reading) -> None:
        channel = self.channel
        channel.turn.release()
        if channel.evicted and not channel.turn.locked():
            channel.close()
        self.done(reading)


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
                if not oldest.turn.locked():
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
        cred: SnmpV2c,
        max_rep: int,
        deadline: float,
        started_at: datetime,
        t0: float,
    ) -> Reading:
        """The poll of :meth:`start`, awaited: the channel's turn is waited for (bounded by
        ``deadline``: another poll of the same agent, a probe-now, may hold it)."""
        oids = snmp.get_oids(target)
        channel = self._channel(target.address, target.port_for("snmp"), cred.community)
        turn = channel.turn
        if not turn.try_acquire():
            try:
                async with asyncio.timeout_at(deadline):
                    await turn.acquire()
            finally:
                if channel.evicted and not turn.locked():
                    channel.close()
        ended: asyncio.Future[Reading] = channel.loop.create_future()

        def done(reading: Reading) -> None:
            if not ended.done():  # else the awaiting task was cancelled meanwhile
                ended.set_result(reading)

        _Poll(self, channel, target, max_rep, deadline, done, started_at, t0).start(oids)
        return await ended

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

    def start(self, target: ProbeTarget, timeout: float, done: Callable[[Reading], None]) -> bool:
        """Start a v2c poll driven by callbacks (no task, no coroutine): ``done`` is then
        called once with the reading, as ``collect`` would have returned it, possibly before
        this returns. False, and ``done`` is never called: the poll is not for this path (SNMPv3,
        a target ``collect`` would refuse, or its agent's channel busy with another poll)."""
        try:
            opts = snmp.options(target)
            cred = opts.credentials
            if not isinstance(cred, SnmpV2c):
                return False
            oids = snmp.get_oids(target)
            port = target.port_for("snmp")
            channel = self._channel(target.address, port, cred.community)
        except Exception:  # let collect() say what is wrong with the target
            return False
        if not channel.turn.try_acquire():
            return False
        deadline = channel.loop.time() + timeout
        poll = _Poll(
            self,
            channel,
            target,
            opts.max_repetitions,
            deadline,
            done,
            utcnow(),
            time.perf_counter(),
        )
        poll.start(oids)
        return True

    def failure(
        self, exc: BaseException, target: ProbeTarget, started_at: datetime, t0: float
    ) -> Reading:
        """The reading of a poll that ended with ``exc``."""
        if isinstance(exc, TimeoutError):
            status, reason = ProbeStatus.TIMEOUT, snmp.timeout_reason(target)
        elif isinstance(exc, SnmpAuthError):
            self._engine_ids.pop((target.address, target.port_for("snmp")), None)
            status, reason = ProbeStatus.AUTH_FAILED, AUTH_FAILED_REASON
        elif isinstance(exc, SnmpDecodeError | snmp.SnmpParseError | UnicodeDecodeError):
            status, reason = ProbeStatus.PARSE_ERROR, f"malformed SNMP reply: {short_reason(exc)}"
        elif isinstance(exc, ConnectionRefusedError):
            status, reason = ProbeStatus.REFUSED, "port unreachable (ICMP)"
        else:
            status, reason = ProbeStatus.ERROR, short_reason(exc)
        return failed(self.kind, target, status, reason, started_at, t0)

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout
        opts = snmp.options(target)
        cred = opts.credentials
        key = (target.address, target.port_for("snmp"))
        try:
            if isinstance(cred, SnmpV2c):  # every wait bounded by the deadline (see _Deadlines)
                return await self._poll_v2c(
                    target, cred, opts.max_repetitions, deadline, started_at, t0
                )
            oids = snmp.get_oids(target)
            async with asyncio.timeout_at(deadline):
                session = SnmpSession(
                    target.address,
                    key[1],
                    user=self._user(cred),
                    engine_id=self._engine_ids.get(key),
                    timeout=timeout,
                    max_repetitions=opts.max_repetitions,
                )
                await session.refresh()
                self._engine_ids[key] = session.get_engine_id()
                got, walk = await self._poll_session(session, oids, opts.max_repetitions)
            return snmp.reading_of(self.kind, target, got, walk, started_at, t0)
        except (
            TimeoutError,
            SnmpAuthError,
            SnmpDecodeError,
            snmp.SnmpParseError,
            UnicodeDecodeError,
            SnmpError,
            OSError,
        ) as exc:
            return self.failure(exc, target, started_at, t0)
