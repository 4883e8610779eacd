"""Every write through the API leaves exactly one change record per changed object."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests import factories


def changes(client: TestClient[Any], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/changes", params={"limit": 500, **params}
    ).json()["items"]
    return items


def test_one_record_per_write_for_every_resource(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    created = [c for c in changes(client) if c["object_type"] != "api_token"]
    assert sorted((c["object_type"], c["action"]) for c in created) == sorted(
        [("country", "create")]
        + [("site", "create")] * 2
        + [("device_model", "create")] * 2
        + [("device", "create")] * 2
        + [("link", "create")]
    )
    writes = [
        ("/api/v1/countries/NE", {"name": "Republic of Niger"}),
        (f"/api/v1/sites/{made['site']['code']}", {"criticality": 5}),
        (f"/api/v1/device-models/{made['camera_model']['slug']}", {"minimum_firmware": "11.0.0"}),
        (
            f"/api/v1/devices/{made['camera']['id']}",
            {"firmware_version": "11.0.1", "lifecycle": "faulty"},
        ),
        (f"/api/v1/links/{made['link']['id']}", {"bandwidth_kbps": 8192}),
    ]
    for url, body in writes:
        response = client.patch(url, json=body, headers={"If-Match": '"1"'})
        assert response.status_code == 200, response.text
    updates = changes(client, action="update")
    assert len(updates) == len(writes)
    device_update = next(c for c in updates if c["object_type"] == "device")
    assert device_update["changes"] == {
        "firmware_version": {"before": "10.12.1", "after": "11.0.1"},
        "lifecycle": {"before": "active", "after": "faulty"},
    }
    assert device_update["actor"] == "test-admin"
    assert device_update["actor_role"] == "admin"
    assert device_update["country"] == "NE"
    assert device_update["site_id"] == made["site"]["id"]

    response = client.delete(f"/api/v1/links/{made['link']['id']}", headers={"If-Match": '"2"'})
    assert response.status_code == 204
    deletes = changes(client, action="delete")
    assert len(deletes) == 1
    assert deletes[0]["changes"]["circuit_id"] == {
        "before": made["link"]["circuit_id"],
        "after": None,
    }
    assert len(changes(client)) == 1 + len(created) + len(writes) + 1  # with the token's


def test_refused_writes_leave_no_record(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    before = len(changes(client))
    client.patch(
        f"/api/v1/sites/{made['site']['code']}", json={"name": "x"}, headers={"If-Match": '"9"'}
    )
    client.delete(f"/api/v1/sites/{made['site']['code']}", headers={"If-Match": '"1"'})
    client.post("/api/v1/countries", json={"code": "NE", "name": "Niger", "region": "Sahel"})
    assert len(changes(client)) == before


def test_site_history_includes_its_devices_and_links(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    code = made["site"]["code"]
    client.patch(
        f"/api/v1/devices/{made['router']['id']}",
        json={"hostname": "rtr-1"},
        headers={"If-Match": '"1"'},
    )
    history = client.get(f"/api/v1/sites/{code}/history").json()["items"]
    assert [(h["object_type"], h["action"]) for h in history] == [
        ("device", "update"),
        ("link", "create"),
        ("device", "create"),
        ("device", "create"),
        ("site", "create"),
    ]
    other = client.get(f"/api/v1/sites/{made['hub']['code']}/history").json()["items"]
    assert [(h["object_type"], h["action"]) for h in other] == [("site", "create")]
    assert client.get("/api/v1/sites/NOPE/history").status_code == 404


def test_changes_filter_by_object_and_time(client: TestClient[Any]) -> None:
    made = factories.small_fleet(client)
    mine = changes(client, object_type="device", object_id=made["camera"]["id"])
    assert len(mine) == 1
    assert mine[0]["object_key"] == made["camera"]["serial"]
    stamp = mine[0]["at"]
    assert all(c["at"] >= stamp for c in changes(client, since=stamp))
    assert all(c["at"] < stamp for c in changes(client, until=stamp))
    assert changes(client, since="2999-01-01T00:00:00Z") == []
