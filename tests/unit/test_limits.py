"""fleet.limits.Limit: a semaphore that can also be taken without awaiting."""

from __future__ import annotations

import asyncio

import pytest

from fleet.limits import Limit

pytestmark = pytest.mark.anyio


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Limit(0)


async def test_try_acquire_takes_free_slots_only() -> None:
    limit = Limit(2)
    assert limit.try_acquire()
    assert limit.try_acquire()
    assert limit.locked()
    assert not limit.try_acquire()
    limit.release()
    assert not limit.locked()
    assert limit.try_acquire()


async def test_waiters_are_served_in_order_and_try_acquire_does_not_jump_the_queue() -> None:
    limit = Limit(1)
    assert limit.try_acquire()
    order: list[int] = []

    async def take(n: int) -> None:
        await limit.acquire()
        order.append(n)

    waiting = [asyncio.create_task(take(n)) for n in range(3)]
    await asyncio.sleep(0)
    limit.release()  # handed to the first waiter, not free for anyone else
    assert not limit.try_acquire()
    await asyncio.sleep(0)
    assert order == [0]
    limit.release()
    await asyncio.sleep(0)
    limit.release()
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2]
    limit.release()
    assert limit.try_acquire()


async def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    limit = Limit(1)
    assert limit.try_acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    first.cancel()  # cancelled while waiting: leaves the queue
    await asyncio.sleep(0)
    limit.release()
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert limit.locked()


async def test_a_slot_handed_over_as_the_wait_is_cancelled_is_passed_on() -> None:
    limit = Limit(1)
    assert limit.try_acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    limit.release()  # the slot goes to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs: the slot moves on to ``second``
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    limit.release()
    assert limit.try_acquire()
