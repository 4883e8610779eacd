"""Test data made through the API, with defaults that can be overridden per test."""

from __future__ import annotations

import itertools
from typing import Any

from litestar.testing import TestClient

_counter = itertools.count(1)


def _post(client: TestClient[Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/{path}", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def country(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    return _post(client, "countries", {"code": "NE", "name": "Niger", "region": "Sahel", **fields})


def site(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    n = next(_counter)
    body = {
        "code": f"NE-BCL-{n:03d}",
        "name": f"Border post {n}",
        "kind": "border_crossing_land",
        "country": "NE",
        "latitude": 13.5,
        "longitude": 2.1,
        "criticality": 4,
        "timezone": "Africa/Niamey",
        **fields,
    }
    return _post(client, "sites", body)


def device_model(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    n = next(_counter)
    body = {
        "slug": f"axis-p{n}",
        "manufacturer": "Axis",
        "model": f"P{n}",
        "kind": "camera",
        "minimum_firmware": "10.12.0",
        **fields,
    }
    return _post(client, "device-models", body)


def device(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    n = next(_counter)
    body = {"serial": f"SN{n:08d}", "lifecycle": "active", "firmware_version": "10.12.1", **fields}
    return _post(client, "devices", body)


def link(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    n = next(_counter)
    body = {
        "circuit_id": f"CIR-{n:06d}",
        "medium": "satellite",
        "provider": "SahelSat",
        "bandwidth_kbps": 4096,
        **fields,
    }
    return _post(client, "links", body)


def maintenance_window(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    body = {
        "starts_at": "2026-12-01T08:00:00Z",
        "ends_at": "2026-12-01T12:00:00Z",
        "reason": "Mast repair",
        **fields,
    }
    return _post(client, "maintenance-windows", body)


def small_fleet(client: TestClient[Any]) -> dict[str, Any]:
    """A country, a hub and a border site with a router, a camera behind it and a link."""
    made: dict[str, Any] = {"country": country(client)}
    made["hub"] = site(client, code="NE-NB-NIAMEY", kind="national_bureau", criticality=5)
    made["site"] = site(client)
    made["router_model"] = device_model(client, kind="router", manufacturer="Cisco")
    made["camera_model"] = device_model(client)
    made["router"] = device(client, site=made["site"]["code"], model=made["router_model"]["slug"])
    made["camera"] = device(
        client,
        site=made["site"]["code"],
        model=made["camera_model"]["slug"],
        parent_id=made["router"]["id"],
    )
    made["link"] = link(
        client,
        site=made["site"]["code"],
        terminating_device_id=made["router"]["id"],
        far_end_site=made["hub"]["code"],
    )
    return made
