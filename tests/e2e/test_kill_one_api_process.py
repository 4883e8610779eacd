"""Creates and reads spread over two API processes on one PostgreSQL database; one is killed
with SIGKILL mid-load. Every acknowledged create is stored; every other one, retried with its
Idempotency-Key on the survivor, ends with exactly one row."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.lossy import count_created, site_bodies
from fleet.access.idempotency import ANSWER_LOST
from tests.e2e.several import Api, fresh_postgres, two_apis

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
CREATES = 300
KILL_AFTER_S = 1.5


async def _load(a: Api, b: Api, token: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(codes acknowledged with a 201, creates left without an answer, with their keys)."""
    auth = {"Authorization": f"Bearer {token}"}
    acked: list[str] = []
    unanswered: list[tuple[str, dict[str, Any]]] = []
    bodies = iter(site_bodies("NE-KIL", CREATES))
    apis = itertools.cycle((a, b))
    async with httpx.AsyncClient(timeout=15, headers=auth) as client:

        async def worker() -> None:
            for body in bodies:
                api = next(apis)
                key = uuid.uuid4().hex
                try:
                    got = await client.post(
                        f"{api.base}/api/v1/sites", json=body, headers={"Idempotency-Key": key}
                    )
                    await client.get(f"{api.base}/api/v1/sites?limit=5")
                except httpx.TransportError:
                    unanswered.append((key, body))
                    continue
                assert got.status_code == 201, got.text
                acked.append(body["code"])

        async def killer() -> None:
            await asyncio.sleep(KILL_AFTER_S)
            await asyncio.to_thread(a.kill)

        await asyncio.gather(killer(), *(worker() for _ in range(8)))
    return acked, unanswered


async def _retry_on(b: Api, token: str, unanswered: list[tuple[str, dict[str, Any]]]) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(timeout=15, headers={"Authorization": f"Bearer {token}"}) as c:
        for key, body in unanswered:
            got = await c.post(
                f"{b.base}/api/v1/sites", json=body, headers={"Idempotency-Key": key}
            )
            if got.status_code == 409:  # carried out on the killed process, its answer lost
                assert got.json()["detail"] == ANSWER_LOST, got.text
            else:
                assert got.status_code == 201, got.text
            statuses.append(got.status_code)
    return statuses


def test_kill_9_of_one_api_process_loses_no_acknowledged_create(tmp_path: Path) -> None:
    started = time.monotonic()
    with fresh_postgres() as url, two_apis(url, tmp_path) as (a, b, token):
        acked, unanswered = asyncio.run(_load(a, b, token))
        statuses = asyncio.run(_retry_on(b, token, unanswered))
        created = asyncio.run(count_created(url, "NE-KIL"))
    print(
        f"acknowledged {len(acked)}, unanswered {len(unanswered)}, retried: "
        f"{statuses.count(201)} x 201, {statuses.count(409)} x answer lost; "
        f"{time.monotonic() - started:.1f} s"
    )
    assert unanswered, "the kill left no request unanswered: kill earlier"
    assert acked
    assert created.rows == len(acked) + len(unanswered)  # each create exactly once
    assert created.change_records == created.sites_with_one_record == created.rows
