"""HTTP probe options per model and device through the API: stored, validated, and built into
the probe targets with the device ahead of the model and the model ahead of the defaults."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes import targets
from fleet.probes.types import ProbeTarget
from fleet.settings import Settings
from tests import factories
from tests.conftest import run


async def _targets(url: str) -> dict[int, ProbeTarget]:
    db = Database(url)
    try:
        async with db.session() as session:
            return {p.device_id: p.target for p in await targets.load(session, Cipher(None))}
    finally:
        await db.dispose()


def _fleet(client: TestClient[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    factories.country(client)
    return factories.site(client), factories.device_model(
        client,
        http_scheme="http",
        http_port=8080,
        http_path="/cgi/health",
        http_expected_status=204,
    )


def test_device_wins_over_model_and_model_over_default(
    client: TestClient[Any], settings: Settings
) -> None:
    site, model = _fleet(client)
    assert (model["http_scheme"], model["http_port"], model["http_expected_status"]) == (
        "http",
        8080,
        204,
    )
    plain = factories.device_model(client)
    common = {"site": site["code"], "probes": ["http"], "management_address": "127.0.0.1"}
    inherits = factories.device(client, model=model["slug"], **common)
    overrides = factories.device(
        client,
        model=model["slug"],
        http_scheme="https",
        http_port=8443,
        http_path="/api/ok",
        http_expected_status=200,
        **common,
    )
    defaults = factories.device(client, model=plain["slug"], **common)
    probe_port = factories.device(client, model=model["slug"], probe_port=9000, **common)
    assert overrides["http_scheme"] == "https"
    assert overrides["http_path"] == "/api/ok"

    found = run(_targets(settings.database_url))
    t = found[inherits["id"]]
    assert t.http is not None
    assert (t.http.scheme, t.http.path, t.http.expected_status) == ("http", "/cgi/health", 204)
    assert t.port_for("http") == 8080
    t = found[overrides["id"]]
    assert t.http is not None
    assert (t.http.scheme, t.http.path, t.http.expected_status) == ("https", "/api/ok", 200)
    assert t.port_for("http") == 8443
    t = found[defaults["id"]]
    assert t.http is not None
    assert (t.http.scheme, t.http.path, t.http.expected_status) == ("https", "/health", None)
    assert t.port_for("http") == 443
    # A device's probe_port is the device's choice, ahead of the model's port.
    assert found[probe_port["id"]].port_for("http") == 9000


def test_patch_sets_and_clears_a_device_override(
    client: TestClient[Any], settings: Settings
) -> None:
    site, model = _fleet(client)
    device = factories.device(
        client,
        model=model["slug"],
        site=site["code"],
        probes=["http"],
        management_address="127.0.0.1",
    )
    url = f"/api/v1/devices/{device['id']}"
    response = client.patch(url, json={"http_scheme": "https"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert client.get(url).json()["http_scheme"] == "https"
    target = run(_targets(settings.database_url))[device["id"]]
    assert target.http is not None
    assert target.http.scheme == "https"
    response = client.patch(url, json={"http_scheme": None}, headers={"If-Match": '"2"'})
    assert response.status_code == 200, response.text
    target = run(_targets(settings.database_url))[device["id"]]
    assert target.http is not None
    assert target.http.scheme == "http"


BAD = [
    ("http_scheme", "ftp"),
    ("http_scheme", "HTTP://"),
    ("http_port", 0),
    ("http_port", 65536),
    ("http_port", "80"),
    ("http_path", "health"),
    ("http_path", "/a b"),
    ("http_expected_status", 99),
    ("http_expected_status", 600),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_http_options_are_422_naming_the_field(
    client: TestClient[Any], field: str, value: Any
) -> None:
    site, model = _fleet(client)
    for path, body in (
        (
            "device-models",
            {"slug": "bad-model", "manufacturer": "A", "model": "B", "kind": "camera"},
        ),
        ("devices", {"serial": "SN-BAD-1", "site": site["code"], "model": model["slug"]}),
    ):
        response = client.post(f"/api/v1/{path}", json={**body, field: value})
        assert response.status_code == 422, (path, field, value, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    assert client.get("/api/v1/devices").json()["items"] == []
    response = client.patch(
        f"/api/v1/device-models/{model['slug']}", json={field: value}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert client.get(f"/api/v1/device-models/{model['slug']}").json()["version"] == 1
