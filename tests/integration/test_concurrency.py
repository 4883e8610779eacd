"""Two engineers (or twenty) editing one site can never silently overwrite each other."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient, TestClient

from fleet.api.app import create_app
from fleet.settings import Settings
from tests import factories


def test_twenty_concurrent_patches_with_one_etag(
    settings: Settings, client: TestClient[Any]
) -> None:
    factories.country(client)
    site = factories.site(client, code="NE-BCL-CONC")
    url = f"/api/v1/sites/{site['code']}"

    async def race() -> list[Any]:
        async with AsyncTestClient(create_app(settings)) as racer:
            racer.headers.update(client.headers)
            return await asyncio.gather(
                *(
                    racer.patch(url, json={"name": f"Name {i}"}, headers={"If-Match": '"1"'})
                    for i in range(20)
                )
            )

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    for loser in (r for r in responses if r.status_code == 412):
        assert loser.json()["current_etag"] == '"2"'
    stored = client.get(url).json()
    assert stored["version"] == 2
    assert stored["name"] == winner["name"]
    updates = client.get(
        "/api/v1/changes", params={"object_type": "site", "action": "update"}
    ).json()["items"]
    assert len(updates) == 1
    assert updates[0]["changes"]["name"]["after"] == winner["name"]


def test_concurrent_creates_of_one_serial(settings: Settings, client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    body = {
        "serial": "DUP-0001",
        "site": made["site"]["code"],
        "model": made["camera_model"]["slug"],
    }

    async def race() -> list[Any]:
        async with AsyncTestClient(create_app(settings)) as racer:
            racer.headers.update(client.headers)
            return await asyncio.gather(
                *(racer.post("/api/v1/devices", json=body) for _ in range(8))
            )

    statuses = sorted(r.status_code for r in asyncio.run(race()))
    assert statuses == [201] + [409] * 7, statuses
    found = client.get("/api/v1/devices", params={"serial": "DUP-0001"}).json()["items"]
    assert len(found) == 1
