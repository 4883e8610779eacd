"""A counting limit (a semaphore) that can also be taken without awaiting.

The probe scheduler takes its global and per-site limits, and an SNMP channel its turn, from
plain callbacks as well as from coroutines: :meth:`Limit.try_acquire` takes a slot at once or
says it cannot, and never jumps the queue of coroutines waiting in :meth:`Limit.acquire`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Limit:
    """At most ``size`` holders at a time; waiters are served first come, first served."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a limit needs at least one slot")
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether an acquire would have to wait."""
        return self._free <= 0 or bool(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot now if one is free and nobody is waiting for one."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one in turn if none is free."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the wait was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the first waiter, if any."""
        self._free += 1
        while self._free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._free -= 1
                waiter.set_result(None)
