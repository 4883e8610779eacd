"""TCP connect probe: open a connection to the target's port and close it at once."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fleet.probes.base import failed, short_reason
from fleet.probes.types import ProbeStatus, ProbeTarget, Reading, utcnow


class TcpProbe:
    kind = "tcp"
    driver = "asyncio"

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        port = target.port_for("tcp")
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(target.address, port)
        except TimeoutError:
            return failed(
                self.kind, target, ProbeStatus.TIMEOUT, f"no answer on TCP {port}", started_at, t0
            )
        except ConnectionRefusedError:
            return failed(
                self.kind, target, ProbeStatus.REFUSED, f"TCP {port} refused", started_at, t0
            )
        except OSError as exc:
            return failed(self.kind, target, ProbeStatus.ERROR, short_reason(exc), started_at, t0)
        duration_ms = (time.perf_counter() - t0) * 1000
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return Reading(
            kind=self.kind,
            device_id=target.device_id,
            status=ProbeStatus.OK,
            started_at=started_at,
            duration_ms=duration_ms,
            values={"connect_ms": round(duration_ms, 3)},
        )
