"""CRUD, filters, pages, embedding, ETags and delete rules of the inventory API, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests import factories


def test_create_read_update_delete_site(client: TestClient[Any]) -> None:
    factories.country(client)
    created = factories.site(client, code="NE-BCL-MAKALONDI")
    assert created["country"] == "NE"
    assert created["version"] == 1

    response = client.get("/api/v1/sites/NE-BCL-MAKALONDI")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'

    response = client.patch(
        "/api/v1/sites/NE-BCL-MAKALONDI",
        json={"name": "Makalondi", "tags": ["remote"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Makalondi"
    assert response.json()["tags"] == ["remote"]
    assert response.headers["etag"] == '"2"'

    response = client.delete("/api/v1/sites/NE-BCL-MAKALONDI", headers={"If-Match": '"2"'})
    assert response.status_code == 204
    assert client.get("/api/v1/sites/NE-BCL-MAKALONDI").status_code == 404


def test_every_resource_round_trips(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    device = client.get(f"/api/v1/devices/{made['camera']['id']}").json()
    assert device["site"] == made["site"]["code"]
    assert device["kind"] == "camera"
    assert device["country"] == "NE"
    assert device["parent_id"] == made["router"]["id"]
    link = client.get(f"/api/v1/links/{made['link']['id']}").json()
    assert link["far_end_site"] == "NE-NB-NIAMEY"
    assert link["terminating_device_id"] == made["router"]["id"]
    model = client.get(f"/api/v1/device-models/{made['camera_model']['slug']}").json()
    assert model["minimum_firmware"] == "10.12.0"
    assert client.get("/api/v1/countries/NE").json()["region"] == "Sahel"


def test_lists_filter_search_and_sort(client: TestClient[Any]) -> None:
    factories.small_fleet(client)
    factories.site(client, code="NE-AIR-NIAMEY", kind="border_crossing_air", name="Niamey airport")

    land = client.get("/api/v1/sites", params={"country": "NE", "kind": "border_crossing_land"})
    assert land.status_code == 200
    assert [s["kind"] for s in land.json()["items"]] == ["border_crossing_land"]

    either = client.get(
        "/api/v1/sites", params={"kind": "border_crossing_land,border_crossing_air"}
    )
    assert len(either.json()["items"]) == 2

    found = client.get("/api/v1/sites", params={"q": "AIRPORT"}).json()["items"]
    assert [s["code"] for s in found] == ["NE-AIR-NIAMEY"]

    names = [
        s["name"] for s in client.get("/api/v1/sites", params={"sort": "-name"}).json()["items"]
    ]
    assert names == sorted(names, reverse=True)

    cameras = client.get("/api/v1/devices", params={"kind": "camera", "country": "NE"}).json()
    assert [d["kind"] for d in cameras["items"]] == ["camera"]
    assert client.get("/api/v1/devices", params={"country": "ML"}).json()["items"] == []
    links = client.get("/api/v1/links", params={"medium": "satellite", "lifecycle": "active"})
    assert len(links.json()["items"]) == 1


def test_cursor_pages_cover_every_row_once(client: TestClient[Any]) -> None:
    factories.country(client)
    for i in range(7):
        factories.site(client, code=f"NE-P-{i:02d}", name=f"Post {i % 3}")
    for sort in ("code", "-code", "name", "-name", "criticality"):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/api/v1/sites", params=params).json()
            seen += [s["code"] for s in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(f"NE-P-{i:02d}" for i in range(7)), sort
        assert len(seen) == 7
        assert pages == 3


def test_site_detail_embeds_devices_and_links(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    body = client.get(
        f"/api/v1/sites/{made['site']['code']}", params={"embed": "devices,links"}
    ).json()
    assert {d["serial"] for d in body["devices"]} == {
        made["router"]["serial"],
        made["camera"]["serial"],
    }
    assert [link["circuit_id"] for link in body["links"]] == [made["link"]["circuit_id"]]
    plain = client.get(f"/api/v1/sites/{made['site']['code']}").json()
    assert "devices" not in plain


def test_delete_refused_while_in_use(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    code = made["site"]["code"]
    response = client.delete(f"/api/v1/sites/{code}", headers={"If-Match": '"1"'})
    assert response.status_code == 409
    assert "2 devices" in response.json()["detail"]
    router = made["router"]
    response = client.delete(f"/api/v1/devices/{router['id']}", headers={"If-Match": '"1"'})
    assert response.status_code == 409
    assert "links ending on it" in response.json()["detail"]
    response = client.delete("/api/v1/countries/NE", headers={"If-Match": '"1"'})
    assert response.status_code == 409
    assert client.get(f"/api/v1/sites/{code}").status_code == 200


def test_topology_rules(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    other = factories.site(client)
    stranger = factories.device(client, site=other["code"], model=made["router_model"]["slug"])
    # A parent at another site.
    response = client.patch(
        f"/api/v1/devices/{made['camera']['id']}",
        json={"parent_id": stranger["id"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent_id"
    # A loop of parents.
    response = client.patch(
        f"/api/v1/devices/{made['router']['id']}",
        json={"parent_id": made["camera"]["id"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert "loop" in response.json()["detail"]
    # A link terminated by a device elsewhere.
    response = client.patch(
        f"/api/v1/links/{made['link']['id']}",
        json={"terminating_device_id": stranger["id"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "terminating_device_id"
    # Moving a device that others depend on.
    response = client.patch(
        f"/api/v1/devices/{made['router']['id']}",
        json={"site": other["code"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "site"


def test_model_kind_cannot_change_under_devices(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    response = client.patch(
        f"/api/v1/device-models/{made['camera_model']['slug']}",
        json={"kind": "router"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kind"


def test_request_id_is_returned_and_logged(client: TestClient[Any]) -> None:
    factories.country(client)
    response = client.post(
        "/api/v1/sites",
        json={
            "code": "NE-RID",
            "name": "x",
            "kind": "hq",
            "country": "NE",
            "latitude": 1.0,
            "longitude": 1.0,
        },
        headers={"X-Request-ID": "field-engineer-0001"},
    )
    assert response.headers["x-request-id"] == "field-engineer-0001"
    change = client.get("/api/v1/changes", params={"request_id": "field-engineer-0001"}).json()
    assert [c["object_key"] for c in change["items"]] == ["NE-RID"]
    generated = client.get("/api/v1/sites/NOPE")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["request_id"] == generated.headers["x-request-id"]
