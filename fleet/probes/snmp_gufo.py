"""SNMP driver on gufo-snmp (Rust BER/USM core, asyncio API ``gufo.snmp.aio.client``).

Supported: v2c; v3 noAuthNoPriv/authNoPriv/authPriv with MD5, SHA, SHA-224/256/384/512 and
DES, AES-128/192/256 (AES-192/256 with the Blumenthal key extension, like net-snmp).

Gaps, reported as status ``error`` without sending anything:

* SNMPv3 **context names**: gufo-snmp 0.13 always sends an empty contextName, so a target
  whose ``SnmpV3.context`` is not empty needs the pysnmp driver.

How a v2c poll runs (the hot path, see ``bench/probe_throughput.py``): each target gets a
channel (:mod:`fleet.probes.gufo_v2c`), one gufo-snmp socket (the Rust socket under
``SnmpSession``) that stays registered with the event loop and is reused by every poll of that
target; ``SnmpSession`` itself opens, registers and times a socket per session, which costs far
more CPU per poll (figures in ``bench/README.md``). Channels are kept per event loop in an LRU
bounded by ``MAX_CHANNELS`` and a quarter of the open-files limit. The poll (GET, then GETBULK
until the ifOperStatus column ends) runs on the channel's readable callbacks:
:meth:`GufoProbe.start` hands it to the scheduler with a callback for the reading,
:meth:`GufoProbe.collect` awaits the same poll. v3 polls use ``SnmpSession`` as is.

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
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

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
from gufo.snmp.aio.client import SnmpSession

from fleet.probes import snmp
from fleet.probes.base import PASSED_ON, failed, is_panic, short_reason
from fleet.probes.gufo_v2c import Channel, Deadlines, Poll, channel_limit
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
            tuple[Deadlines, OrderedDict[tuple[str, int, str], Channel]],
        ] = weakref.WeakKeyDictionary()
        self._channel_limit = channel_limit()

    def _channel(self, address: str, port: int, community: str) -> Channel:
        loop = asyncio.get_running_loop()
        mine = self._loops.get(loop)
        if mine is None:
            mine = self._loops[loop] = (Deadlines(loop), OrderedDict())
        deadlines, channels = mine
        key = (address, port, community)
        channel = channels.get(key)
        if channel is None:
            while len(channels) >= self._channel_limit:
                _, oldest = channels.popitem(last=False)
                oldest.evicted = True
                if not oldest.turn.locked():
                    oldest.close()  # else the poll using it closes it when done
            channel = channels[key] = Channel(deadlines, address, port, community)
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

        Poll(self, channel, target, max_rep, deadline, done, started_at, t0).start(oids)
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
        poll = Poll(
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
        elif isinstance(exc, SnmpDecodeError | snmp.SnmpParseError | UnicodeDecodeError) or (
            is_panic(exc)  # gufo-snmp's decoder gave up on the reply
        ):
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
            if isinstance(cred, SnmpV2c):  # every wait bounded by the deadline (see Deadlines)
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
        except BaseException as exc:
            if isinstance(exc, PASSED_ON) or not is_panic(exc):
                raise  # cancellation passes on; the runner says what anything else was
            return self.failure(exc, target, started_at, t0)
