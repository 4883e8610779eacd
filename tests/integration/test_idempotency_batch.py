"""Idempotent retries and offline batches: nothing is done twice, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import col

from fleet.access import idempotency
from fleet.access.models import IdempotencyRecord
from fleet.api.app import create_app
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings
from tests import factories
from tests.conftest import auth, make_token


def country_body(code: str = "NE") -> dict[str, Any]:
    return {"code": code, "name": "Niger", "region": "Sahel"}


def test_same_create_ten_times_with_one_key(client: TestClient[Any]) -> None:
    responses = [
        client.post("/api/v1/countries", json=country_body(), headers={"Idempotency-Key": "k-1"})
        for _ in range(10)
    ]
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1  # byte for byte
    assert "idempotent-replayed" not in responses[0].headers
    assert all(r.headers["idempotent-replayed"] == "true" for r in responses[1:])
    assert len(client.get("/api/v1/countries").json()["items"]) == 1
    creates = client.get("/api/v1/changes", params={"object_type": "country"}).json()["items"]
    assert len(creates) == 1


def test_same_key_other_body_is_refused(client: TestClient[Any]) -> None:
    assert (
        client.post(
            "/api/v1/countries", json=country_body(), headers={"Idempotency-Key": "k-2"}
        ).status_code
        == 201
    )
    other = client.post(
        "/api/v1/countries", json=country_body("ML"), headers={"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert [c["code"] for c in client.get("/api/v1/countries").json()["items"]] == ["NE"]


def test_keys_are_per_token(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    other = make_token(db_url, "other-admin", "admin", rate_limit_per_minute=0)
    first = client.post(
        "/api/v1/countries", json=country_body(), headers={"Idempotency-Key": "shared"}
    )
    with TestClient(create_app(settings)) as second_client:
        second_client.headers.update(auth(other))
        second = second_client.post(
            "/api/v1/countries", json=country_body("ML"), headers={"Idempotency-Key": "shared"}
        )
        again = second_client.post(
            "/api/v1/countries", json=country_body("ML"), headers={"Idempotency-Key": "shared"}
        )
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == "NE"
    assert second.json()["code"] == "ML"
    assert again.content == second.content


def test_retry_while_running_is_a_conflict(client: TestClient[Any], db_url: str) -> None:
    token_id = client.get("/api/v1/tokens", params={"name": "test-admin"}).json()["items"][0]["id"]
    body = country_body()

    async def claim_running() -> None:
        # The first request is still being processed (its claim is fresh and unanswered).
        db = Database(db_url)
        try:
            digest = idempotency.request_hash(
                b"/api/v1/countries",
                b"",
                json.dumps(body, separators=(",", ":")).encode(),
            )
            async with db.session(write=True) as session:
                session.add(
                    IdempotencyRecord(
                        token_id=token_id,
                        key="busy",
                        request_hash=digest,
                        state="running",
                        expires_at=utcnow() + timedelta(hours=1),
                    )
                )
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(claim_running())
    response = client.post(
        "/api/v1/countries",
        content=json.dumps(body, separators=(",", ":")),
        headers={"Idempotency-Key": "busy", "Content-Type": "application/json"},
    )
    assert response.status_code == 409
    assert client.get("/api/v1/countries").json()["items"] == []


def test_errors_are_replayed_too_and_server_errors_are_not_kept(client: TestClient[Any]) -> None:
    bad = {"code": "NE", "name": "Niger", "region": 12}
    first = client.post("/api/v1/countries", json=bad, headers={"Idempotency-Key": "bad"})
    second = client.post("/api/v1/countries", json=bad, headers={"Idempotency-Key": "bad"})
    assert first.status_code == second.status_code == 422
    assert first.content.replace(
        first.headers["x-request-id"].encode(), b""
    ) == second.content.replace(first.headers["x-request-id"].encode(), b"")


def _batch_fleet(client: TestClient[Any]) -> list[dict[str, Any]]:
    factories.country(client)
    factories.site(client, code="NE-S1")
    factories.device_model(client, slug="m-cam", kind="camera")
    return [factories.device(client, site="NE-S1", model="m-cam") for _ in range(50)]


def test_batch_of_fifty_with_five_stale(
    settings: Settings, client: TestClient[Any], db_url: str
) -> None:
    devices = _batch_fleet(client)
    stale = devices[:5]
    for device in stale:  # someone else changed these since the engineer went offline
        client.patch(
            f"/api/v1/devices/{device['id']}",
            json={"notes": "office edit"},
            headers={"If-Match": '"1"'},
        )
    engineer = make_token(db_url, "eng-batch", "field_engineer", ["NE"])
    changes = [
        {
            "id": f"change-{i}",
            "op": "update",
            "object": "device",
            "key": device["id"],
            "if_match": '"1"',
            "data": {"firmware_version": "2.0.0"},
        }
        for i, device in enumerate(devices)
    ]
    with TestClient(create_app(settings)) as c:
        c.headers.update(auth(engineer))
        first = c.post("/api/v1/batch", json={"changes": changes}).json()
        before_resend = client.get("/api/v1/changes", params={"limit": 500}).json()["items"]
        again = c.post("/api/v1/batch", json={"changes": changes}).json()
    assert (first["applied"], first["conflict"], first["invalid"], first["forbidden"]) == (
        45,
        5,
        0,
        0,
    )
    conflicts = [r for r in first["results"] if r["status"] == "conflict"]
    assert {r["id"] for r in conflicts} == {f"change-{i}" for i in range(5)}
    assert all(
        r["current_etag"] == '"2"' and r["current"]["notes"] == "office edit" for r in conflicts
    )
    assert {r["current"]["object_type"] for r in conflicts} == {"device"}
    applied = [r for r in first["results"] if r["status"] == "applied"]
    assert all(r["etag"] == '"2"' and r["object"]["firmware_version"] == "2.0.0" for r in applied)
    assert {r["object"]["object_type"] for r in applied} == {"device"}
    # Sent again: every answer is the first one, replayed, and nothing is applied twice.
    assert all(r["replayed"] for r in again["results"])
    assert [r["status"] for r in again["results"]] == [r["status"] for r in first["results"]]
    after_resend = client.get("/api/v1/changes", params={"limit": 500}).json()["items"]
    assert after_resend == before_resend
    mine = [c for c in after_resend if c["actor"] == "eng-batch"]
    assert len(mine) == 45
    assert sorted(c["object_id"] for c in mine) == sorted(d["id"] for d in devices[5:])


def test_batch_results_per_change(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    factories.country(client, code="NE")
    factories.country(client, code="ML", name="Mali")
    factories.site(client, code="NE-S1")
    factories.site(client, code="ML-S1", country="ML")
    factories.device_model(client, slug="m-cam", kind="camera")
    engineer = make_token(db_url, "eng-3", "field_engineer", ["NE"])
    changes = [
        {
            "id": "a",
            "op": "create",
            "object": "device",
            "data": {"serial": "B-1", "site": "NE-S1", "model": "m-cam"},
        },
        {
            "id": "b",
            "op": "create",
            "object": "device",
            "data": {"serial": "B-2", "site": "ML-S1", "model": "m-cam"},
        },
        {
            "id": "c",
            "op": "create",
            "object": "device",
            "data": {"serial": "B-3", "site": "NE-S1", "model": "m-cam", "colour": "red"},
        },
        {"id": "d", "op": "delete", "object": "site", "key": "NE-S1", "if_match": '"1"'},
        {"id": "e", "op": "update", "object": "site", "key": "NE-S1"},
    ]
    with TestClient(create_app(settings)) as c:
        c.headers.update(auth(engineer))
        body = c.post("/api/v1/batch", json={"changes": changes}).json()
    statuses = {r["id"]: r["status"] for r in body["results"]}
    assert statuses == {
        "a": "applied",
        "b": "forbidden",
        "c": "invalid",
        "d": "forbidden",
        "e": "invalid",
    }
    invalid = next(r for r in body["results"] if r["id"] == "c")
    assert invalid["problem"]["errors"][0]["field"] == "colour"
    assert [d["serial"] for d in client.get("/api/v1/devices").json()["items"]] == ["B-1"]


def test_a_key_never_makes_the_service_hold_a_body_a_route_would_not(
    client: TestClient[Any], db_url: str
) -> None:
    """A route that takes no body (probe-now) is sent a large one with a key: refused (413)
    once it is over the body limit, nothing claimed, so the key still works."""
    factories.country(client)
    factories.site(client, code="NE-IDEM-1")
    factories.device_model(client, slug="idem-router", kind="router")
    device = factories.device(client, site="NE-IDEM-1", model="idem-router")
    limit = client.app.state.settings.max_body_bytes
    url = f"/api/v1/devices/{device['id']}/probe"
    key = {"Idempotency-Key": "big-1", "Content-Type": "application/octet-stream"}
    refused = client.post(url, content=b"\x00" * (limit + 1), headers=key)
    assert refused.status_code == 413, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body"]

    async def claims() -> int:
        db = Database(db_url)
        try:
            async with db.session() as session:
                found = await session.scalars(
                    IdempotencyRecord.__table__.select()  # type: ignore[attr-defined]
                )
                return len(found.all())
        finally:
            await db.dispose()

    assert asyncio.run(claims()) == 0


def test_an_api_process_deletes_the_expired_records_when_it_starts(
    settings: Settings, db_url: str
) -> None:
    async def add(key: str, expires_in: timedelta) -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                session.add(
                    IdempotencyRecord(
                        token_id=1,
                        key=key,
                        request_hash="0" * 64,
                        state="done",
                        status=201,
                        expires_at=utcnow() + expires_in,
                    )
                )
                await session.commit()
        finally:
            await db.dispose()

    async def keys() -> set[str]:
        db = Database(db_url)
        try:
            async with db.session() as session:
                return set((await session.scalars(sa.select(col(IdempotencyRecord.key)))).all())
        finally:
            await db.dispose()

    asyncio.run(add("old", -timedelta(minutes=1)))
    asyncio.run(add("fresh", timedelta(hours=1)))
    with TestClient(create_app(settings)) as started:
        deadline = time.monotonic() + 5
        while asyncio.run(keys()) != {"fresh"} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.get("/api/v1/health").status_code == 200
    assert asyncio.run(keys()) == {"fresh"}
