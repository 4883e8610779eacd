"""The service as a process: ``fleet serve`` on an empty SQLite file migrates, loads the sample
fleet and answers over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e


def test_serve_loads_and_answers(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    assert httpx.get(f"{served.base}/api/v1/sites").status_code == 401
    response = httpx.get(
        f"{served.base}/api/v1/sites",
        params={"country": "NE", "kind": "border_crossing_land"},
        headers=headers,
    )
    assert response.status_code == 200
    sites = response.json()["items"]
    assert sites
    assert all(s["country"] == "NE" and s["kind"] == "border_crossing_land" for s in sites)
    assert response.headers["x-request-id"]
    docs = httpx.get(f"{served.base}/schema/openapi.json").json()
    assert docs["info"]["title"] == "fleet"
    assert "/api/v1/sites" in docs["paths"]
    big = httpx.get(
        f"{served.base}/api/v1/devices",
        params={"limit": 500},
        headers={**headers, "Accept-Encoding": "gzip"},
    )
    assert big.headers.get("content-encoding") == "gzip"


def test_bootstrap_token_is_printed_once(served: Served) -> None:
    lines = [line for line in served.output if "FLEET_TOKEN=" in line]
    assert len(lines) == 1
