"""The same checks for every resource declared as a ``Resource`` (the inventory's
``fleet.inventory.resources.RESOURCES`` and the probes' maintenance windows): ETag on read,
If-Match required, a stale If-Match refused with nothing changed, and one change-log record per
write with actor, request id and before/after. Runs on each backend (the ``client`` fixture's
database)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.inventory.declarations import Resource
from fleet.inventory.resources import RESOURCES
from fleet.probes.windows import MAINTENANCE_WINDOW
from tests import factories
from tests.conftest import auth, make_token

#: For each resource: a field to change and the new value.
UPDATES: dict[str, tuple[str, Any]] = {
    "country": ("name", "Niger (renamed)"),
    "site": ("name", "Border post renamed"),
    "device_model": ("minimum_firmware", "10.13.0"),
    "device": ("firmware_version", "10.12.9"),
    "link": ("bandwidth_kbps", 8192),
    "maintenance_window": ("reason", "Mast repair, second visit"),
}
DECLARED = (*RESOURCES, MAINTENANCE_WINDOW)


def _url(client: TestClient[Any], resource: Resource) -> str:
    made = factories.small_fleet(client)
    if resource.name == "maintenance_window":
        sample = factories.maintenance_window(client, site=made["site"]["code"])
    else:
        sample = {
            "country": made["country"],
            "site": made["site"],
            "device_model": made["camera_model"],
            "device": made["camera"],
            "link": made["link"],
        }[resource.name]
    return f"/api/v1/{resource.plural}/{sample[resource.key]}"


def _changes(client: TestClient[Any], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/changes", params={"limit": 500, **params}
    ).json()["items"]
    return items


@pytest.fixture(params=DECLARED, ids=[r.name for r in DECLARED])
def resource(request: pytest.FixtureRequest) -> Resource:
    value: Resource = request.param
    assert value.name in UPDATES, f"no sample update for {value.name}"
    return value


def test_read_answers_its_etag(client: TestClient[Any], resource: Resource) -> None:
    read = client.get(_url(client, resource))
    assert read.status_code == 200
    assert read.headers["etag"] == f'"{read.json()["version"]}"'


def test_a_write_needs_if_match_and_a_stale_one_changes_nothing(
    client: TestClient[Any], resource: Resource
) -> None:
    url = _url(client, resource)
    before = client.get(url)
    field, value = UPDATES[resource.name]
    assert client.patch(url, json={field: value}).status_code == 428
    star = client.patch(url, json={field: value}, headers={"If-Match": "*"})
    assert star.status_code == 428
    stale = client.patch(url, json={field: value}, headers={"If-Match": '"999"'})
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == stale.headers["etag"] == before.headers["etag"]
    assert client.delete(url, headers={"If-Match": '"999"'}).status_code == 412
    assert client.get(url).json() == before.json()


def test_a_write_leaves_one_change_record_with_actor_request_id_and_diff(
    client: TestClient[Any], resource: Resource
) -> None:
    url = _url(client, resource)
    before = client.get(url)
    field, value = UPDATES[resource.name]
    changed = client.patch(
        url,
        json={field: value},
        headers={"If-Match": before.headers["etag"], "X-Request-ID": "base-check-1"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == f'"{before.json()["version"] + 1}"'
    records = _changes(client, request_id="base-check-1")
    assert len(records) == 1
    record = records[0]
    assert (record["object_type"], record["action"]) == (resource.name, "update")
    assert record["actor"] == "test-admin"
    assert record["changes"][field] == {"before": before.json()[field], "after": value}
    count = len(_changes(client))
    same = client.patch(url, json={field: value}, headers={"If-Match": changed.headers["etag"]})
    assert same.status_code == 200
    assert same.headers["etag"] == changed.headers["etag"]  # nothing changed: no new version
    assert len(_changes(client)) == count  # and no record


#: An object of each resource that nothing points at, made on top of the small fleet.
FRESH: dict[str, Any] = {
    "country": lambda c, made: factories.country(c, code="SN", name="Senegal"),
    "site": lambda c, made: factories.site(c),
    "device_model": lambda c, made: factories.device_model(c),
    "device": lambda c, made: factories.device(
        c, site=made["site"]["code"], model=made["camera_model"]["slug"]
    ),
    "link": lambda c, made: factories.link(c, site=made["site"]["code"]),
    "maintenance_window": lambda c, made: factories.maintenance_window(
        c, site=made["site"]["code"], device_id=made["camera"]["id"]
    ),
}


def test_create_and_delete_each_leave_one_change_record(
    client: TestClient[Any], resource: Resource
) -> None:
    made = factories.small_fleet(client)
    client.headers["X-Request-ID"] = "base-create-1"
    try:
        created = FRESH[resource.name](client, made)
    finally:
        del client.headers["X-Request-ID"]
    url = f"/api/v1/{resource.plural}/{created[resource.key]}"
    assert client.get(url).json() == created
    deleted = client.delete(
        url, headers={"If-Match": f'"{created["version"]}"', "X-Request-ID": "base-delete-1"}
    )
    assert deleted.status_code == 204, deleted.text
    assert client.get(url).status_code == 404
    for request_id, action in (("base-create-1", "create"), ("base-delete-1", "delete")):
        records = _changes(client, request_id=request_id)
        assert [(r["object_type"], r["action"], r["actor"]) for r in records] == [
            (resource.name, action, "test-admin")
        ]
    gone = records[0]
    assert gone["object_key"] == str(created[resource.natural_key])
    assert gone["changes"]
    for field, change in gone["changes"].items():
        assert change == {"before": created[field], "after": None}, field


def test_a_read_only_token_cannot_write(
    client: TestClient[Any], db_url: str, resource: Resource
) -> None:
    url = _url(client, resource)
    before = client.get(url)
    viewer = auth(make_token(db_url, "viewer-1", "viewer"))
    field, value = UPDATES[resource.name]
    etag = {"If-Match": before.headers["etag"]}
    assert client.get(url, headers=viewer).status_code == 200
    assert client.patch(url, json={field: value}, headers={**etag, **viewer}).status_code == 403
    assert client.delete(url, headers={**etag, **viewer}).status_code == 403
    assert client.get(url).json() == before.json()


def test_a_country_scoped_token_sees_only_its_country(
    client: TestClient[Any], db_url: str, resource: Resource
) -> None:
    url = _url(client, resource)
    home = auth(make_token(db_url, "viewer-ne", "viewer", ["NE"]))
    away = auth(make_token(db_url, "viewer-sn", "viewer", ["SN"]))
    listing = f"/api/v1/{resource.plural}"
    assert client.get(url, headers=home).status_code == 200
    assert client.get(listing, headers=home).json()["items"]
    if resource.country_column is None:
        # Device models belong to no country: every country's inventory shares the catalogue.
        assert client.get(url, headers=away).status_code == 200
        return
    assert client.get(url, headers=away).status_code == 404
    assert client.get(listing, headers=away).json()["items"] == []


@dataclass(frozen=True)
class Other:
    """A resource outside the inventory's table: tokens and credential profiles. Neither belongs
    to a country, so the country-scope check does not apply; work orders have no create or
    delete and keep their own journal (tests/integration/test_upgrades_service.py)."""

    object_type: str
    plural: str
    key: str
    create: dict[str, Any]
    update: tuple[str, Any]


OTHERS = (
    Other("api_token", "tokens", "id", {"name": "ops-1", "role": "viewer"}, ("role", "planner")),
    Other(
        "credential_profile",
        "credential-profiles",
        "name",
        {"name": "v2", "kind": "snmp_v2c", "secret": {"community": "c0mmunity-X"}},
        ("verify_tls", False),
    ),
)


@pytest.mark.parametrize("other", OTHERS, ids=[o.object_type for o in OTHERS])
def test_tokens_and_credential_profiles_pass_the_same_checks(
    client: TestClient[Any], db_url: str, other: Other
) -> None:
    made = client.post(
        f"/api/v1/{other.plural}", json=other.create, headers={"X-Request-ID": "other-check-1"}
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/{other.plural}/{made.json()[other.key]}"
    before = client.get(url)
    assert before.headers["etag"] == f'"{before.json()["version"]}"'
    field, value = other.update
    assert client.patch(url, json={field: value}).status_code == 428
    assert client.patch(url, json={field: value}, headers={"If-Match": '"999"'}).status_code == 412
    viewer = auth(make_token(db_url, "viewer-1", "viewer"))
    etag = {"If-Match": before.headers["etag"]}
    assert client.patch(url, json={field: value}, headers={**etag, **viewer}).status_code == 403
    assert client.delete(url, headers={**etag, **viewer}).status_code == 403
    assert client.get(url).json() == before.json()
    changed = client.patch(
        url, json={field: value}, headers={**etag, "X-Request-ID": "other-check-2"}
    )
    assert changed.status_code == 200, changed.text
    gone = client.delete(
        url, headers={"If-Match": changed.headers["etag"], "X-Request-ID": "other-check-3"}
    )
    assert gone.status_code == 204, gone.text
    for request_id, action in (
        ("other-check-1", "create"),
        ("other-check-2", "update"),
        ("other-check-3", "delete"),
    ):
        records = _changes(client, request_id=request_id)
        assert [(r["object_type"], r["action"], r["actor"]) for r in records] == [
            (other.object_type, action, "test-admin")
        ]
    update = _changes(client, request_id="other-check-2")[0]
    assert update["changes"][field] == {"before": before.json()[field], "after": value}
