"""Two ``fleet serve --no-scheduler`` processes on one PostgreSQL database: what one process
wrote, keyed, versioned or counted holds on the other."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.lossy import count_created, site_bodies
from fleet.database import Database
from fleet.probes.models import StateEvent
from tests.e2e.several import Api, fresh_postgres, two_apis

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
Pair = tuple[Api, Api, str, str]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with fresh_postgres() as url, two_apis(url, tmp_path_factory.mktemp("procs")) as (a, b, t):
        yield a, b, t, url


def _auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def test_a_create_retried_on_the_other_process_is_replayed(pair: Pair) -> None:
    a, b, token, url = pair
    body = site_bodies("NE-IDA", 1)[0]
    key = uuid.uuid4().hex
    first = httpx.post(f"{a.base}/api/v1/sites", json=body, headers=_auth(token, key))
    again = httpx.post(f"{b.base}/api/v1/sites", json=body, headers=_auth(token, key))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.content == first.content
    created = asyncio.run(count_created(url, "NE-IDA"))
    assert (created.rows, created.change_records) == (1, 1)


async def _both_at_once(a: Api, b: Api, token: str, bodies: list[dict[str, Any]]) -> list[Any]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def twice(body: dict[str, Any]) -> list[httpx.Response]:
            key = uuid.uuid4().hex
            return await asyncio.gather(
                *(
                    client.post(f"{api.base}/api/v1/sites", json=body, headers=_auth(token, key))
                    for api in (a, b)
                )
            )

        return await asyncio.gather(*(twice(body) for body in bodies))


def test_the_same_key_on_both_processes_at_once_makes_one_row(pair: Pair) -> None:
    a, b, token, url = pair
    answers = asyncio.run(_both_at_once(a, b, token, site_bodies("NE-IDB", 20)))
    outcomes = set()
    for one, other in answers:
        kinds = sorted(
            "replayed" if r.headers.get("idempotent-replayed") else str(r.status_code)
            for r in (one, other)
        )
        outcomes.add(tuple(kinds))
        # one runs it; the other is told it still runs (409), or gets its answer replayed
        assert kinds in (["201", "409"], ["201", "replayed"]), [one.text, other.text]
        for r in (one, other):
            if r.status_code == 409:
                assert "still running" in r.json()["detail"]
    created = asyncio.run(count_created(url, "NE-IDB"))
    assert (created.rows, created.change_records, created.sites_with_one_record) == (20, 20, 20)
    print(f"outcomes: {sorted(outcomes)}")


def test_an_etag_from_one_process_holds_on_the_other(pair: Pair) -> None:
    a, b, token, _ = pair
    body = site_bodies("NE-ETG", 1)[0]
    made = httpx.post(f"{a.base}/api/v1/sites", json=body, headers=_auth(token))
    assert made.status_code == 201, made.text
    site = f"/api/v1/sites/{body['code']}"
    first = httpx.get(f"{a.base}{site}", headers=_auth(token)).headers["ETag"]
    changed = httpx.patch(
        f"{b.base}{site}",
        json={"name": "Renamed on B"},
        headers={**_auth(token), "If-Match": first},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] != first
    stale = httpx.patch(
        f"{b.base}{site}", json={"name": "Stale"}, headers={**_auth(token), "If-Match": first}
    )
    assert stale.status_code == 412, stale.text
    on_a = httpx.get(f"{a.base}{site}", headers={**_auth(token), "If-None-Match": first})
    assert on_a.status_code == 200
    assert on_a.json()["name"] == "Renamed on B"
    assert on_a.headers["ETag"] == changed.headers["ETag"]


def test_a_rate_limit_counts_the_requests_to_both_processes(pair: Pair) -> None:
    a, b, token, _ = pair
    limit = 10
    made = httpx.post(
        f"{a.base}/api/v1/tokens",
        json={"name": "limited-pair", "role": "viewer", "rate_limit_per_minute": limit},
        headers=_auth(token),
    )
    assert made.status_code == 201, made.text
    limited = made.json()["secret"]
    if time.time() % 60 > 50:  # the window is a wall-clock minute: start early in one
        time.sleep(61 - time.time() % 60)
    statuses = [
        httpx.get(f"{api.base}/api/v1/sites?limit=1", headers=_auth(limited)).status_code
        for _ in range(limit * 3)
        for api in (a, b)
    ]
    assert statuses.count(200) == limit, statuses  # in total, not per process
    assert statuses.count(429) == limit * 5
    assert statuses[:limit] == [200] * limit  # alternating A, B: the first ten pass


def _read_stream(
    base: str, token: str, found: list[dict[str, Any]], ready: threading.Event
) -> None:
    url = f"{base}/api/v1/status/stream?timeout=20"
    with httpx.stream("GET", url, headers=_auth(token), timeout=30) as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                if event == "hello":
                    ready.set()
            elif line.startswith("data:") and event == "state":
                found.append(json.loads(line.split(":", 1)[1]))
                return


async def _record_state_change(url: str, site: dict[str, Any]) -> None:
    """A change of state as a worker's status store writes it (API processes without a
    scheduler only read them)."""
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            session.add(
                StateEvent(
                    object_type="site",
                    object_id=site["id"],
                    object_key=site["code"],
                    site_id=site["id"],
                    country_code=site["country"],
                    old_state="unknown",
                    new_state="disconnected",
                    cause="written by another process",
                )
            )
            await session.commit()
    finally:
        await db.dispose()


def test_a_state_change_written_elsewhere_is_on_both_streams(pair: Pair) -> None:
    a, b, token, url = pair
    readers = []
    for api in (a, b):
        found: list[dict[str, Any]] = []
        ready = threading.Event()
        thread = threading.Thread(
            target=_read_stream, args=(api.base, token, found, ready), daemon=True
        )
        thread.start()
        assert ready.wait(15), f"no hello on {api.base}'s stream"
        readers.append((thread, found))
    site = httpx.get(f"{a.base}/api/v1/sites?limit=1", headers=_auth(token)).json()["items"][0]
    asyncio.run(_record_state_change(url, site))
    for thread, found in readers:
        thread.join(20)
        assert found, "a stream carried no state event"
        assert found[0]["object_key"] == site["code"], found[0]


def test_the_pair_started_together_on_an_empty_database(pair: Pair, tmp_path: Path) -> None:
    """Both migrated it at once without failing, and the sample was loaded once."""
    a, b, token, _ = pair
    sites = [
        httpx.get(f"{api.base}/api/v1/sites?limit=200", headers=_auth(token)).json()["items"]
        for api in (a, b)
    ]
    codes = [site["code"] for site in sites[0]]
    assert codes == [site["code"] for site in sites[1]]
    assert len(codes) == len(set(codes)) > 0
