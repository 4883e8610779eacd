"""Tokens, audit, country scope, conditional reads and field selection, rate limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.database import Database
from fleet.settings import Settings
from tests import factories
from tests.conftest import auth, make_token


def two_countries(client: TestClient[Any]) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for code in ("NE", "ML"):
        factories.country(client, code=code, name=code)
        made[f"{code}-site"] = factories.site(client, code=f"{code}-S1", country=code)
    made["model"] = factories.device_model(client, slug="m-router", kind="router")
    for code in ("NE", "ML"):
        made[f"{code}-device"] = factories.device(client, site=f"{code}-S1", model="m-router")
    return made


def test_missing_unknown_expired_and_disabled_tokens(
    settings: Settings, client: TestClient[Any], db_url: str
) -> None:
    expired = make_token(
        db_url, "old", "admin", expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    disabled = make_token(db_url, "off", "admin")
    token_id = client.get("/api/v1/tokens", params={"name": "off"}).json()["items"][0]["id"]
    assert (
        client.patch(
            f"/api/v1/tokens/{token_id}", json={"enabled": False}, headers={"If-Match": '"1"'}
        ).status_code
        == 200
    )
    asyncio.run(asyncio.sleep(1.1))
    with TestClient(create_app(settings)) as anonymous:
        for headers in (
            {},
            {"Authorization": "Basic abc"},
            auth("fleet_nope"),
            auth(expired),
            auth(disabled),
        ):
            response = anonymous.get("/api/v1/sites", headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.get("/api/v1/health").status_code == 200
        assert anonymous.get("/schema/openapi.json").status_code == 200
    events = client.get("/api/v1/audit-events", params={"kind": "auth_failed"}).json()["items"]
    reasons = sorted(e["detail"]["reason"] for e in events)
    assert reasons == sorted(
        ["no bearer token", "no bearer token", "unknown token", "token expired", "token disabled"]
    )
    text = str(events)
    for secret in (expired, disabled):
        assert secret not in text


def test_tokens_are_stored_as_hashes(client: TestClient[Any], db_url: str) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "field-1", "role": "field_engineer", "countries": ["NE"]}
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("fleet_")
    listed = client.get("/api/v1/tokens").json()["items"]
    assert all("secret" not in t and "secret_hash" not in t for t in listed)
    assert secret not in str(client.get("/api/v1/changes", params={"limit": 500}).json())

    async def dump() -> str:
        db = Database(db_url)
        try:
            async with db.session() as session:
                rows = []
                for table in ("api_token", "change_record", "audit_event", "idempotency_record"):
                    result = await session.execute(sa.text(f"SELECT * FROM {table}"))
                    rows += [str(tuple(r)) for r in result]
                return "\n".join(rows)
        finally:
            await db.dispose()

    text = asyncio.run(dump())
    assert "field-1" in text  # the dump is real
    assert secret not in text
    assert secret.removeprefix("fleet_") not in text


def test_country_scope(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    made = two_countries(client)
    engineer = make_token(db_url, "eng-ne", "field_engineer", ["NE"])
    with TestClient(create_app(settings)) as ne:
        ne.headers.update(auth(engineer))
        assert [s["code"] for s in ne.get("/api/v1/sites").json()["items"]] == ["NE-S1"]
        assert [c["code"] for c in ne.get("/api/v1/countries").json()["items"]] == ["NE"]
        assert {d["country"] for d in ne.get("/api/v1/devices").json()["items"]} == {"NE"}
        assert ne.get("/api/v1/sites/ML-S1").status_code == 404
        assert ne.get(f"/api/v1/devices/{made['ML-device']['id']}").status_code == 404
        # Moving a device into another country is refused and changes nothing.
        url = f"/api/v1/devices/{made['NE-device']['id']}"
        moved = ne.patch(url, json={"site": "ML-S1"}, headers={"If-Match": '"1"'})
        assert moved.status_code == 403
        assert moved.json()["errors"][0]["field"] == "site"
        assert client.get(url).json()["site"] == "NE-S1"
        assert client.get(url).json()["version"] == 1
        # Creating in another country is refused.
        body = {"serial": "X-1", "site": "ML-S1", "model": "m-router"}
        assert ne.post("/api/v1/devices", json=body).status_code == 403
        assert client.get("/api/v1/devices", params={"serial": "X-1"}).json()["items"] == []
        # The change log shows only NE's changes.
        assert {c["country"] for c in ne.get("/api/v1/changes").json()["items"]} == {"NE"}
        assert ne.get("/api/v1/sites/ML-S1/history").status_code == 404
        # An embed lists only what the token may see (a site is in one country anyway).
        embedded = ne.get("/api/v1/sites/NE-S1", params={"embed": "devices"}).json()["devices"]
        assert [d["id"] for d in embedded] == [made["NE-device"]["id"]]


def test_change_log_names_the_token(
    settings: Settings, client: TestClient[Any], db_url: str
) -> None:
    made = two_countries(client)
    engineer = make_token(db_url, "eng-2", "field_engineer", ["NE"])
    with TestClient(create_app(settings)) as ne:
        ne.headers.update(auth(engineer))
        url = f"/api/v1/devices/{made['NE-device']['id']}"
        assert (
            ne.patch(url, json={"hostname": "rtr"}, headers={"If-Match": '"1"'}).status_code == 200
        )
    change = client.get(
        "/api/v1/changes", params={"action": "update", "object_type": "device"}
    ).json()["items"]
    assert [(c["actor"], c["actor_role"]) for c in change] == [("eng-2", "field_engineer")]


def test_viewer_cannot_write(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    made = two_countries(client)
    viewer = make_token(db_url, "viewer", "viewer")
    with TestClient(create_app(settings)) as v:
        v.headers.update(auth(viewer))
        assert v.get("/api/v1/sites").status_code == 200
        url = f"/api/v1/devices/{made['NE-device']['id']}"
        assert v.patch(url, json={"hostname": "x"}, headers={"If-Match": '"1"'}).status_code == 403
        assert v.delete(url, headers={"If-Match": '"1"'}).status_code == 403
        assert v.post("/api/v1/batch", json={"changes": []}).status_code == 403
        assert v.get("/api/v1/tokens").status_code == 403


def test_conditional_get_and_fields(client: TestClient[Any]) -> None:
    made = two_countries(client)
    url = f"/api/v1/devices/{made['NE-device']['id']}"
    first = client.get(url)
    unchanged = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": '"99"'}).status_code == 200
    slim = client.get(url, params={"fields": "serial,site"}).json()
    assert slim == {
        "id": made["NE-device"]["id"],
        "serial": made["NE-device"]["serial"],
        "site": "NE-S1",
        "version": 1,
    }
    listed = client.get("/api/v1/devices", params={"fields": "serial"}).json()["items"]
    assert all(set(item) == {"id", "serial", "version"} for item in listed)
    bad = client.get("/api/v1/devices", params={"fields": "serial,password"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "fields"


def test_rate_limit(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    limited = make_token(db_url, "slow", "viewer", rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as c:
        c.headers.update(auth(limited))
        answers = [c.get("/api/v1/countries") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert answers[2].headers["ratelimit-remaining"] == "0"
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].json()["type"] == "urn:fleet:problem:rate-limited"
    # The admin client of the suite is unlimited.
    assert "ratelimit-limit" not in client.get("/api/v1/countries").headers


def test_a_token_patch_cannot_null_its_role_or_switch(client: TestClient[Any]) -> None:
    made = client.post("/api/v1/tokens", json={"name": "ops-null", "role": "viewer"})
    url = f"/api/v1/tokens/{made.json()['id']}"
    before = client.get(url).json()
    for field in ("enabled", "role"):
        answer = client.patch(url, json={field: None}, headers={"If-Match": '"1"'})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert client.get(url).json() == before
    everywhere = client.patch(url, json={"countries": None}, headers={"If-Match": '"1"'})
    assert everywhere.status_code == 200, everywhere.text
