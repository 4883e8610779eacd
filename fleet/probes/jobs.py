"""The scheduler's jobs, remembered while they run so that stopping can let them finish."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Runs(Protocol):
    _running: set[asyncio.Task[Any]]


S = TypeVar("S", bound=Runs)


def tracked(
    method: Callable[Concatenate[S, P], Awaitable[T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Remember the task running a job while it runs, so that ``stop`` can let it finish."""

    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            return await method(self, *args, **kwargs)
        finally:
            if task is not None:
                self._running.discard(task)

    functools.update_wrapper(run, method)
    return run
