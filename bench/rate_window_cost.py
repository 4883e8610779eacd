"""The cost of a rate limit shared through PostgreSQL: one upsert per request, against the
in-memory window of a single process, measured in the same run.

    python bench/rate_window_cost.py [postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Migrates the database given (it must be one fleet may use), counts ``N`` requests of one token
each way, and prints the time per request and the ratio.
"""

from __future__ import annotations

import asyncio
import sys
import time

from fleet import migrate
from fleet.access import rate_windows
from fleet.api.auth import RateLimiter
from fleet.database import Database

N = 2000


async def main(url: str) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        memory = RateLimiter()
        started = time.perf_counter()
        for _ in range(N):
            memory.take(1, 10**9, time.monotonic())
        in_memory = (time.perf_counter() - started) / N
        started = time.perf_counter()
        for _ in range(N):
            await rate_windows.take(db, 999_999, 10**9, time.time())
        shared = (time.perf_counter() - started) / N
    finally:
        await db.dispose()
    print(f"in memory: {in_memory * 1e6:.1f} us a request")
    print(f"shared (PostgreSQL upsert): {shared * 1e6:.0f} us a request")
    print(f"ratio: {shared / in_memory:.0f}x; {shared * 1e3:.2f} ms added to each request")


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1]
            if len(sys.argv) > 1
            else "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    )
