"""SNMPv3 legacy waivers: noAuth, noPriv, MD5 and DES are refused by policy unless a
credential profile carries a reason; setting and clearing it is in the change log, and the
status and the board show the devices probed under one."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests import factories

PROFILES = "/api/v1/credential-profiles"
LEGACY = {
    "name": "old-kit",
    "kind": "snmp_v3",
    "username": "fleet-md5",
    "auth_protocol": "MD5",
    "priv_protocol": "DES",
    "secret": {"auth_key": "fleet-auth-key-4", "priv_key": "fleet-priv-key-4"},
}
REASON = "Gilat modems at the border posts speak only MD5/DES until the 2027 refresh"


def _changes(client: TestClient[Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/changes", params={"object_type": "credential_profile", "limit": 100}
    ).json()["items"]
    return items


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "auth_protocol"),
        ({"auth_protocol": "SHA256"}, "priv_protocol"),
        ({"priv_protocol": "AES"}, "auth_protocol"),
        ({"auth_protocol": None, "priv_protocol": None}, "auth_protocol"),
        ({"priv_protocol": None, "auth_protocol": "SHA"}, "priv_protocol"),
    ],
)
def test_legacy_protocols_are_refused_without_a_waiver(
    client: TestClient[Any], change: dict[str, Any], field: str
) -> None:
    response = client.post(PROFILES, json={**LEGACY, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text
    assert "legacy_waiver_reason" in response.text  # says how to allow it
    assert client.get(PROFILES).json()["items"] == []
    assert _changes(client) == []


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, 12])
def test_a_waiver_needs_a_real_reason(client: TestClient[Any], reason: Any) -> None:
    response = client.post(PROFILES, json={**LEGACY, "legacy_waiver_reason": reason})
    assert response.status_code == 422, response.text
    assert "legacy_waiver_reason" in response.text
    assert client.get(PROFILES).json()["items"] == []
    client.post(PROFILES, json={**LEGACY, "legacy_waiver_reason": REASON})
    patched = client.patch(
        f"{PROFILES}/old-kit", json={"legacy_waiver_reason": reason}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 422, patched.text
    assert client.get(f"{PROFILES}/old-kit").json()["legacy_waiver_reason"] == REASON


def test_a_waiver_allows_legacy_protocols_and_every_change_is_recorded(
    client: TestClient[Any],
) -> None:
    made = client.post(PROFILES, json={**LEGACY, "legacy_waiver_reason": REASON})
    assert made.status_code == 201, made.text
    assert made.json()["legacy_waiver_reason"] == REASON
    (created,) = _changes(client)
    assert created["action"] == "create"
    assert created["changes"]["legacy_waiver_reason"] == {"before": None, "after": REASON}

    url = f"{PROFILES}/old-kit"
    cleared = client.patch(url, json={"legacy_waiver_reason": None}, headers={"If-Match": '"1"'})
    assert cleared.status_code == 422, cleared.text  # still MD5/DES: the waiver stays
    assert "legacy_waiver_reason" in cleared.text
    reworded = client.patch(
        url, json={"legacy_waiver_reason": "until 2028"}, headers={"If-Match": '"1"'}
    )
    assert reworded.status_code == 200, reworded.text
    moved = client.patch(
        url,
        json={"auth_protocol": "SHA256", "priv_protocol": "AES", "legacy_waiver_reason": None},
        headers={"If-Match": '"2"'},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["legacy_waiver_reason"] is None
    updates = [c for c in _changes(client) if c["action"] == "update"]
    assert {"before": REASON, "after": "until 2028"} in [
        c["changes"].get("legacy_waiver_reason") for c in updates
    ]
    assert {"before": "until 2028", "after": None} in [
        c["changes"].get("legacy_waiver_reason") for c in updates
    ]
    # Without the waiver the policy is back: MD5 again is refused.
    again = client.patch(url, json={"auth_protocol": "MD5"}, headers={"If-Match": '"3"'})
    assert again.status_code == 422, again.text


def test_status_and_board_show_devices_under_a_waiver(client: TestClient[Any]) -> None:
    client.post(PROFILES, json={**LEGACY, "legacy_waiver_reason": REASON})
    client.post(
        PROFILES,
        json={"name": "v2", "kind": "snmp_v2c", "secret": {"community": "c0mmunity-X"}},
    )
    factories.country(client)
    site = factories.site(client)
    other = factories.site(client)
    model = factories.device_model(client)
    waived = factories.device(
        client, site=site["code"], model=model["slug"], probes=["snmp"], snmp_profile="old-kit"
    )
    plain = factories.device(
        client, site=site["code"], model=model["slug"], probes=["snmp"], snmp_profile="v2"
    )
    factories.device(client, site=other["code"], model=model["slug"], snmp_profile="v2")

    status = client.get(f"/api/v1/sites/{site['code']}/status").json()
    by_id = {d["id"]: d for d in status["devices"]}
    assert by_id[waived["id"]]["policy_waiver"] == {"profile": "old-kit", "reason": REASON}
    assert by_id[plain["id"]]["policy_waiver"] is None

    html = {"Accept": "text/html"}
    board = client.get("/", headers=html).text
    row = board.split(f'data-site="{site["code"]}"')[1].split("</tr>")[0]
    assert "1 device under a legacy SNMPv3 waiver" in row
    other_row = board.split(f'data-site="{other["code"]}"')[1].split("</tr>")[0]
    assert "waiver" not in other_row
    page = client.get(f"/sites/{site['code']}", headers=html).text
    device_row = page.split(f'data-object="device:{waived["id"]}"')[1].split("</tr>")[0]
    assert "legacy SNMPv3 waiver (old-kit)" in device_row
    assert REASON in device_row
    plain_row = page.split(f'data-object="device:{plain["id"]}"')[1].split("</tr>")[0]
    assert "waiver" not in plain_row
