"""The field app's reads on the sample fleet: a site's whole record in one request (under 50 KB
gzip for every sample site), the country scope (another country's site is 404), every object's
ETag as its own route answers it, the answer's ETag and 304; my open work orders; the shell,
its service worker (cache named by the files' hash) and its manifest."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.api.field_pages import shell_files, shell_version
from tests.conftest import auth, make_token
from tests.integration.test_upgrades import _load_sample

LIMIT_GZIP = 50_000


@pytest.fixture
def sample(client: TestClient[Any], db_url: str) -> TestClient[Any]:
    import asyncio

    asyncio.run(_load_sample(db_url))
    assert client.post("/api/v1/assessments", json={}).status_code == 200
    return client


def _codes(client: TestClient[Any]) -> list[str]:
    items = client.get("/api/v1/sites", params={"limit": 500}).json()["items"]
    return [s["code"] for s in items]


def test_every_sample_site_in_one_answer_under_50_kb_gzip(sample: TestClient[Any]) -> None:
    codes = _codes(sample)
    assert len(codes) == 19
    sizes = {}
    for code in codes:
        answer = sample.get(f"/api/v1/field/sites/{code}", headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-encoding"] == "gzip"
        body = answer.json()
        raw = json.dumps(body).encode()
        sizes[code] = len(gzip.compress(raw))
        assert body["site"]["code"] == code
        devices = sample.get("/api/v1/devices", params={"site": code, "limit": 500}).json()
        assert len(body["devices"]) == len(devices["items"])
        assert body["device_models"], "the catalogue comes with the site"
    assert max(sizes.values()) < LIMIT_GZIP, sizes
    assert min(sizes.values()) > 1000, sizes  # a real record, not an empty shell


def test_every_object_carries_the_etag_its_own_route_answers(sample: TestClient[Any]) -> None:
    body = sample.get("/api/v1/field/sites/NE-BCS-01").json()
    own = sample.get("/api/v1/sites/NE-BCS-01").json()
    assert {k: v for k, v in body["site"].items() if k not in ("etag", "status")} == own
    assert body["site"]["etag"] == sample.get("/api/v1/sites/NE-BCS-01").headers["etag"]
    for device in body["devices"]:
        assert device["etag"] == sample.get(f"/api/v1/devices/{device['id']}").headers["etag"]
        assert set(device["status"]) == {"state", "since", "reason"}
    for link in body["links"]:
        assert link["etag"] == sample.get(f"/api/v1/links/{link['id']}").headers["etag"]
    assert body["work_orders"], "the sample's border post has open work after an assessment"
    for order in body["work_orders"]:
        one = sample.get(f"/api/v1/work-orders/{order['id']}")
        assert order["etag"] == one.headers["etag"]
        assert order["state"] == "proposed"
        assert order["next"] == ["approved", "rejected", "cancelled"]  # an admin's moves
    assert body["gaps"]
    assert all(g["resolved_at"] is None for g in body["gaps"])
    assert body["moves"]["scheduled"] == ["in_progress", "cancelled"]


def test_the_answer_has_an_etag_and_304_until_something_changes(sample: TestClient[Any]) -> None:
    first = sample.get("/api/v1/field/sites/NE-BCS-01")
    tag = first.headers["etag"]
    assert first.json()["etag"] == tag
    again = sample.get("/api/v1/field/sites/NE-BCS-01", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    device = first.json()["devices"][0]
    changed = sample.patch(
        f"/api/v1/devices/{device['id']}",
        json={"firmware_version": "9.9.9"},
        headers={"If-Match": device["etag"]},
    )
    assert changed.status_code == 200, changed.text
    after = sample.get("/api/v1/field/sites/NE-BCS-01", headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert after.headers["etag"] != tag
    shown = next(d for d in after.json()["devices"] if d["id"] == device["id"])
    assert shown["firmware_version"] == "9.9.9"
    assert shown["etag"] == changed.headers["etag"]


def test_a_country_token_sees_only_its_countries(sample: TestClient[Any], db_url: str) -> None:
    secret = make_token(db_url, "ne-engineer", "field_engineer", ["NE"], rate_limit_per_minute=0)
    headers = auth(secret)
    inside = sample.get("/api/v1/field/sites/NE-BCS-01", headers=headers)
    assert inside.status_code == 200
    outside = sample.get("/api/v1/field/sites/ML-BCL-01", headers=headers)
    assert outside.status_code == 404
    assert outside.headers["content-type"].startswith("application/problem+json")
    unknown = sample.get("/api/v1/field/sites/NOPE-01", headers=headers)
    assert unknown.status_code == 404
    assert outside.json()["title"] == unknown.json()["title"]  # nothing tells them apart
    # a field engineer moves only what is assigned to them
    assert all(o["next"] == [] for o in inside.json()["work_orders"])


def test_a_viewer_may_not_read_the_field_record(sample: TestClient[Any], db_url: str) -> None:
    secret = make_token(db_url, "wall", "viewer")
    assert sample.get("/api/v1/field/sites/NE-BCS-01", headers=auth(secret)).status_code == 403
    assert sample.get("/api/v1/field/work-orders", headers=auth(secret)).status_code == 403


def test_my_open_work_orders(sample: TestClient[Any], db_url: str) -> None:
    secret = make_token(db_url, "amina", "field_engineer", ["NE"], rate_limit_per_minute=0)
    orders = sample.get(
        "/api/v1/work-orders", params={"country": "NE,ML", "limit": 500, "state": "proposed"}
    ).json()["items"]
    mine = [o for o in orders if o["country"] == "NE"][:2]
    foreign = next(o for o in orders if o["country"] == "ML")
    for order in [*mine, foreign]:
        tag = sample.get(f"/api/v1/work-orders/{order['id']}").headers["etag"]
        planned = sample.patch(
            f"/api/v1/work-orders/{order['id']}",
            json={"assignee": "amina"},
            headers={"If-Match": tag},
        )
        assert planned.status_code == 200, planned.text
    answer = sample.get("/api/v1/field/work-orders", headers=auth(secret))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["name"], body["role"], body["countries"]) == ("amina", "field_engineer", ["NE"])
    assert sorted(o["id"] for o in body["work_orders"]) == sorted(o["id"] for o in mine)
    site = sample.get(f"/api/v1/field/sites/{mine[0]['site']}", headers=auth(secret)).json()
    shown = next(o for o in site["work_orders"] if o["id"] == mine[0]["id"])
    assert shown["next"] == []  # proposed: only planners move it on


def test_the_shell_the_service_worker_and_the_manifest(client: TestClient[Any]) -> None:
    client.headers.pop("Authorization")  # the shell, the worker and the manifest need none
    page = client.get("/field")
    assert page.status_code == 200
    assert "manifest-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/field/app.js">' in page.text
    worker = client.get("/field/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/field"
    assert json.dumps(shell_version()) in worker.text
    for url in shell_files():
        assert url in worker.text
        assert client.get(url).status_code == 200, url
    assert "/static/field/sw.template.js" not in shell_files()
    manifest = client.get("/field/manifest.webmanifest").json()
    assert manifest["start_url"] == "/field"
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_cookie_writes_only_from_the_field_app_on_this_origin(
    sample: TestClient[Any], db_url: str
) -> None:
    from fleet.api.auth import SESSION_COOKIE

    secret = make_token(
        db_url, "cookie-engineer", "field_engineer", ["NE"], rate_limit_per_minute=0
    )
    device = sample.get("/api/v1/field/sites/NE-BCS-01").json()["devices"][0]
    change = {
        "op": "update",
        "object": "device",
        "key": device["id"],
        "if_match": device["etag"],
        "data": {"notes": "checked"},
    }
    # the same client (one event loop for the app's engine), without its bearer token
    origin = f"{sample.base_url.scheme}://{sample.base_url.netloc.decode()}"
    bearer = sample.headers.pop("Authorization")
    try:
        sample.cookies.set(SESSION_COOKIE, secret)
        refused = [
            {},  # a plain form post: no app header
            {"X-Fleet-Client": "field", "Origin": "http://elsewhere.example"},
            {"X-Fleet-Client": "field", "Sec-Fetch-Site": "cross-site"},
        ]
        for headers in refused:
            answer = sample.post(
                "/api/v1/batch", json={"changes": [{"id": "c-x", **change}]}, headers=headers
            )
            assert answer.status_code == 401, (headers, answer.text)
        answer = sample.post(
            "/api/v1/batch",
            json={"changes": [{"id": "c-1", **change}]},
            headers={"X-Fleet-Client": "field", "Origin": origin, "Sec-Fetch-Site": "same-origin"},
        )
        assert answer.status_code == 200, answer.text
    finally:
        sample.cookies.clear()
        sample.headers["Authorization"] = bearer
    assert answer.json()["applied"] == 1
