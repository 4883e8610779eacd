"""gufo-snmp's v2c hot path: one reusable socket per target (a :class:`Channel`, kept
registered with the event loop), the deadlines of the channels waiting for a reply, and a poll
(:class:`Poll`: GET, then GETBULK until the ifOperStatus column ends) run on the channel's
readable callbacks. :class:`fleet.probes.snmp_gufo.GufoProbe` hands polls to the scheduler
and awaits them."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

# gufo-snmp 0.13 has no public API for its reusable v2c socket or request iterator (neither
# is exported; SnmpSession opens a socket per session): typed by the package's _fast.pyi.
from gufo.snmp._fast import GetIter, SnmpV2cClientSocket
from gufo.snmp.utils import format_sock_addr

from fleet.limits import Limit
from fleet.probes import snmp
from fleet.probes.base import PASSED_ON
from fleet.probes.types import (
    ProbeTarget,
    Reading,
    Value,
)

if TYPE_CHECKING:
    from fleet.probes.snmp_gufo import GufoProbe

T = TypeVar("T")

#: Upper bound of cached v2c channels (open sockets) per event loop.
MAX_CHANNELS = 8192
#: How often the v2c channels waiting for a reply are checked against their deadlines.
SWEEP_EVERY_S = 0.05


def channel_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MAX_CHANNELS, soft // 4)) if soft > 0 else MAX_CHANNELS


class Deadlines:
    """The v2c channels of one event loop waiting for a reply, and one timer, armed while any
    waits, that fails those past their deadline with ``TimeoutError``: a poll arms no timer
    of its own (a timer per request cost a tenth of the event loop's own cost per poll). A
    deadline is noticed within :data:`SWEEP_EVERY_S` of passing."""

    __slots__ = ("loop", "timer", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: set[Channel] = set()
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, channel: Channel) -> None:
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


class Channel:
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

    def __init__(self, deadlines: Deadlines, address: str, port: int, community: str):
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
            try:  # a stale datagram: drop it, whatever it was (a decoder's panic too)
                self.sock.recv_get_many()
            except PASSED_ON:
                raise
            except BaseException:  # noqa: S110
                pass
            return
        try:
            reply = self.receive()
        except BlockingIOError:  # not the reply to this request (gufo-snmp checks the id)
            return
        except PASSED_ON:
            raise
        except BaseException as exc:  # a malformed reply, a decoder's panic: the poll says which
            self.settle()
            self.on_error(exc)
        else:
            self.settle()
            self.on_reply(reply)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)


class Poll:
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
        channel: Channel,
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
        except PASSED_ON:
            raise
        except BaseException as exc:
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
        except PASSED_ON:
            raise
        except BaseException as exc:
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
        except PASSED_ON:
            raise
        except BaseException as exc:
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
