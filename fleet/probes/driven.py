"""A round driven by its driver's callbacks (``start(target, timeout, done)``: gufo-snmp's v2c
poll): no task and no coroutine; the scheduler (:mod:`fleet.probes.scheduler`) starts it when
the limits have room at once and ends it like any other round."""

from __future__ import annotations

from collections.abc import Callable

from fleet.probes.base import RETRYABLE, attempted, checked, retry_due
from fleet.probes.types import ProbeTarget, Reading


class DrivenRound:
    """A round's attempts, retried by the rule every round follows (``retry_due``), except that
    a retry the driver cannot start at once, its agent busy with another poll, is not waited
    for: the round ends with the failed attempt. Then ``end(reading)``."""

    __slots__ = ("attempts", "end", "may_retry", "retries", "start_poll", "target", "timeout")

    def __init__(
        self,
        target: ProbeTarget,
        start_poll: Callable[..., bool],
        timeout: float,
        retries: int,
        *,
        end: Callable[[Reading], None],
        may_retry: Callable[[], bool],
    ) -> None:
        self.target, self.start_poll, self.timeout, self.retries = (
            target,
            start_poll,
            timeout,
            retries,
        )
        self.end, self.may_retry = end, may_retry
        self.attempts = 0

    def start(self) -> bool:
        return self.start_poll(self.target, self.timeout, self.done)

    def done(self, reading: Reading) -> None:
        self.attempts += 1
        reading = checked(reading, self.target)
        if (
            reading.status in RETRYABLE
            and retry_due(self.attempts, self.retries)
            and self.may_retry()
            and self.start()
        ):
            return  # another attempt is under way
        self.end(attempted(reading, self.attempts))
