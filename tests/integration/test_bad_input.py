"""Bad input gets a 4xx problem detail that names the problem, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests import factories

LISTS = ("countries", "sites", "device-models", "devices", "links", "changes")


def snapshot(client: TestClient[Any]) -> dict[str, Any]:
    return {name: client.get(f"/api/v1/{name}", params={"limit": 500}).json() for name in LISTS}


@pytest.fixture
def fleet(client: TestClient[Any]) -> dict[str, Any]:
    return factories.small_fleet(client)


def site_body(**fields: Any) -> dict[str, Any]:
    return {
        "code": "NE-NEW",
        "name": "New",
        "kind": "border_crossing_land",
        "country": "NE",
        "latitude": 13.0,
        "longitude": 2.0,
        **fields,
    }


def assert_problem(response: Any, status: int, field: str | None = None, text: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:fleet:problem:")
    assert body["title"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    if text:
        assert text in (body.get("detail") or "") + str(body.get("errors")), body


BAD_WRITES = [
    # (method, path, body or raw bytes, status, field, text)
    ("post", "/api/v1/sites", b'{"code": "NE-X",', 400, "body", "not valid JSON"),
    ("post", "/api/v1/sites", b"[1, 2", 400, "body", "not valid JSON"),
    ("post", "/api/v1/sites", site_body(latitude="13.0"), 422, "latitude", ""),
    ("post", "/api/v1/sites", site_body(criticality="5"), 422, "criticality", ""),
    ("post", "/api/v1/sites", site_body(criticality=9), 422, "criticality", ""),
    ("post", "/api/v1/sites", site_body(latitude=91.0), 422, "latitude", ""),
    ("post", "/api/v1/sites", site_body(longitude=-180.5), 422, "longitude", ""),
    ("post", "/api/v1/sites", site_body(kind="castle"), 422, "kind", ""),
    ("post", "/api/v1/sites", site_body(timezone="Mars/Olympus"), 422, "timezone", ""),
    ("post", "/api/v1/sites", site_body(colour="red"), 422, "colour", ""),
    ("post", "/api/v1/sites", site_body(country="ZZ"), 422, "country", "no country"),
    ("post", "/api/v1/sites", site_body(code="bad code"), 422, "code", ""),
    ("post", "/api/v1/sites", [site_body()], 422, None, ""),
    (
        "post",
        "/api/v1/countries",
        {"code": "NE", "name": "Niger", "region": "Sahel"},
        409,
        "code",
        "already exists",
    ),
    (
        "post",
        "/api/v1/devices",
        {"serial": "SN-1", "site": "NE-NOPE", "model": "x"},
        422,
        "site",
        "no site",
    ),
    (
        "post",
        "/api/v1/devices",
        {"serial": "SN-1", "site": "NE-NB-NIAMEY", "model": "nope"},
        422,
        "model",
        "no device model",
    ),
    (
        "post",
        "/api/v1/devices",
        {
            "serial": "SN-1",
            "site": "NE-NB-NIAMEY",
            "model": "nope",
            "management_address": "10.0.0.300",
        },
        422,
        "management_address",
        "",
    ),
    (
        "post",
        "/api/v1/links",
        {
            "circuit_id": "C",
            "site": "NE-NB-NIAMEY",
            "medium": "pigeon",
            "provider": "p",
            "bandwidth_kbps": 1,
        },
        422,
        "medium",
        "",
    ),
    (
        "post",
        "/api/v1/links",
        {
            "circuit_id": "C",
            "site": "NE-NB-NIAMEY",
            "medium": "lte",
            "provider": "p",
            "bandwidth_kbps": 0,
        },
        422,
        "bandwidth_kbps",
        "",
    ),
    (
        "post",
        "/api/v1/links",
        {
            "circuit_id": "C",
            "site": "NE-NB-NIAMEY",
            "medium": "lte",
            "provider": "p",
            "bandwidth_kbps": 10,
            "encrypted": "yes",
        },
        422,
        "encrypted",
        "",
    ),
    (
        "post",
        "/api/v1/links",
        {
            "circuit_id": "C",
            "site": "NE-NB-NIAMEY",
            "medium": "lte",
            "provider": "p",
            "bandwidth_kbps": 10,
            "terminating_device_id": 99999,
        },
        422,
        "terminating_device_id",
        "no device",
    ),
    (
        "post",
        "/api/v1/links",
        {
            "circuit_id": "C",
            "site": "NE-NB-NIAMEY",
            "medium": "lte",
            "provider": "p",
            "bandwidth_kbps": 10,
            "far_end_site": "NE-NB-NIAMEY",
        },
        422,
        "far_end_site",
        "",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field", "text"), BAD_WRITES)
def test_bad_writes_change_nothing(
    client: TestClient[Any],
    fleet: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
    text: str,
) -> None:
    before = snapshot(client)
    if isinstance(body, bytes):
        response = client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = client.request(method, path, json=body)
    assert_problem(response, status, field, text)
    assert snapshot(client) == before


def test_duplicate_serial_and_dangling_parent(
    client: TestClient[Any], fleet: dict[str, Any]
) -> None:
    before = snapshot(client)
    duplicate = {
        "serial": fleet["camera"]["serial"],
        "site": fleet["site"]["code"],
        "model": fleet["camera_model"]["slug"],
    }
    assert_problem(client.post("/api/v1/devices", json=duplicate), 409, "serial", "already exists")
    dangling = {**duplicate, "serial": "SN-NEW", "parent_id": 424242}
    assert_problem(client.post("/api/v1/devices", json=dangling), 422, "parent_id", "no device")
    patch = client.patch(
        f"/api/v1/devices/{fleet['router']['id']}",
        json={"serial": fleet["camera"]["serial"]},
        headers={"If-Match": '"1"'},
    )
    assert_problem(patch, 409, "serial")
    assert snapshot(client) == before


def test_patch_cannot_null_required_fields_or_change_keys(
    client: TestClient[Any], fleet: dict[str, Any]
) -> None:
    before = snapshot(client)
    url = f"/api/v1/sites/{fleet['site']['code']}"
    assert_problem(client.patch(url, json={"name": None}, headers={"If-Match": '"1"'}), 422, "name")
    assert_problem(
        client.patch(url, json={"code": "NE-OTHER"}, headers={"If-Match": '"1"'}), 422, "code"
    )
    assert_problem(
        client.patch(url, json={"latitude": 1000.0}, headers={"If-Match": '"1"'}), 422, "latitude"
    )
    assert snapshot(client) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 100000}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "WyJjb2RlIiwxLCJ4Il0"}, "cursor"),
        ({"sort": "password"}, "sort"),
        ({"kind": "castle"}, "kind"),
        ({"contry": "NE"}, "contry"),
        ({"criticality": "high"}, "criticality"),
        ({"q": "x" * 500}, "q"),
    ],
)
def test_bad_list_queries(client: TestClient[Any], params: dict[str, Any], field: str) -> None:
    response = client.get("/api/v1/sites", params=params)
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code, field)


def test_cursor_of_another_sort_is_refused(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    first = client.get("/api/v1/sites", params={"limit": 1, "sort": "name"}).json()
    response = client.get("/api/v1/sites", params={"cursor": first["next_cursor"], "sort": "code"})
    assert_problem(response, 422, "cursor", "another sort")


def test_unknown_routes_and_methods_are_problems(client: TestClient[Any]) -> None:
    assert_problem(client.get("/api/v1/nothing"), 404)
    assert_problem(client.put("/api/v1/sites"), 405)
    assert_problem(client.get("/api/v1/devices/not-a-number"), 404)
    assert_problem(client.get("/api/v1/devices/123456"), 404)


def test_oversized_body_is_refused(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    before = snapshot(client)
    response = client.post("/api/v1/sites", json=site_body(notes="x" * 2_000_000))
    assert response.status_code == 413
    assert snapshot(client) == before


def test_bad_changes_window(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/changes", params={"since": "yesterday"})
    assert_problem(response, response.status_code, "since")
    assert response.status_code in (400, 422)
