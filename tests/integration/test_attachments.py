"""Attachments after upload: devices and work orders as owners, the bytes read back (ETag,
304, the headers that keep a browser from running them), the list, the country scope of the
owner applied to every route, roles, deletion with If-Match, the change log, and the owner's
deletion refused while files are attached. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder
from tests import factories
from tests.conftest import auth, make_token
from tests.integration.attachments import files
from tests.integration.attachments.test_upload import rows, upload

NE_SITE, ML_SITE = "NE-ATT-1", "ML-ATT-1"


@pytest.fixture
def world(client: TestClient[Any], db_url: str) -> dict[str, Any]:
    """A site, a device and a work order in Niger, and a site in Mali."""
    factories.country(client)
    factories.country(client, code="ML", name="Mali")
    factories.site(client, code=NE_SITE)
    factories.site(client, code=ML_SITE, country="ML")
    factories.device_model(client, slug="att-cam")
    device = factories.device(client, site=NE_SITE, model="att-cam")
    return {"device": device["id"], "order": asyncio.run(_order(db_url, NE_SITE))}


async def _order(url: str, site: str) -> int:
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            site_id = await session.scalar(
                sa.text("SELECT id FROM site WHERE code = :c"), {"c": site}
            )
            now = utcnow()
            gap = Gap(
                site_id=site_id,
                profile="p",
                profile_version=1,
                rule_id="r1",
                rule_type="min_devices",
                subject="kind:camera",
                severity="high",
                work="install",
                required=">= 2",
                actual="1",
                first_seen=now,
                last_seen=now,
            )
            session.add(gap)
            await session.flush()
            order = WorkOrder(
                gap_id=gap.id, site_id=site_id, kind="install", state="scheduled", title="t"
            )
            session.add(order)
            await session.commit()
            assert order.id is not None
            return order.id
    finally:
        await db.dispose()


def _client(settings: Settings, secret: str) -> TestClient[Any]:
    client: TestClient[Any] = TestClient(create_app(settings))
    client.headers.update(auth(secret))
    return client


def test_devices_and_work_orders_take_files_and_list_them(
    client: TestClient[Any], world: dict[str, Any]
) -> None:
    device = upload(client, files.png(), "image/png", target=f"devices/{world['device']}")
    assert device.status_code == 201, device.text
    assert (device.json()["object_type"], device.json()["object_key"]) == (
        "device",
        str(world["device"]),
    )
    order = f"work-orders/{world['order']}"
    for n in range(3):
        made = upload(client, files.pdf(), "application/pdf", name=f"report {n}.pdf", target=order)
        assert made.status_code == 201, made.text
        assert made.json()["object_type"] == "work_order"
    first = client.get(f"/api/v1/{order}/attachments", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["name"] for i in page["items"]] == ["report 2.pdf", "report 1.pdf"]
    rest = client.get(f"/api/v1/{order}/attachments", params={"cursor": page["next_cursor"]})
    assert [i["name"] for i in rest.json()["items"]] == ["report 0.pdf"]
    assert rest.json()["next_cursor"] is None
    by_device = client.get(f"/api/v1/devices/{world['device']}/attachments").json()["items"]
    assert [i["id"] for i in by_device] == [device.json()["id"]]
    assert client.get(f"/api/v1/sites/{NE_SITE}/attachments").json()["items"] == []
    unknown = client.get(f"/api/v1/{order}/attachments", params={"kind": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "kind"


def test_the_content_comes_back_with_its_etag_and_safe_headers(
    client: TestClient[Any], world: dict[str, Any]
) -> None:
    photo = upload(client, files.jpeg(gps=False), "image/jpeg", name='mast "north" é.jpg').json()
    got = client.get(photo["content_url"])
    assert got.status_code == 200
    assert got.content == files.jpeg(gps=False)
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["etag"] == f'"{hashlib.sha256(got.content).hexdigest()}"'
    assert got.headers["x-content-type-options"] == "nosniff"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('inline; filename="mast _north_ _.jpg"')
    assert "filename*=UTF-8''mast%20%22north%22%20%C3%A9.jpg" in disposition
    again = client.get(photo["content_url"], headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == got.headers["etag"]
    document = upload(client, files.pdf(), "application/pdf", name="report.pdf").json()
    pdf = client.get(document["content_url"])
    assert pdf.content == files.pdf()
    assert pdf.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    meta = client.get(f"/api/v1/attachments/{document['id']}")
    assert meta.status_code == 200
    assert meta.json() == document
    assert meta.headers["etag"] == '"1"'
    unchanged = client.get(
        f"/api/v1/attachments/{document['id']}", headers={"If-None-Match": '"1"'}
    )
    assert unchanged.status_code == 304
    assert client.get("/api/v1/attachments/999999/content").status_code == 404
    assert client.get("/api/v1/attachments/99999999999").status_code == 404


def test_another_countrys_token_finds_nothing(
    client: TestClient[Any], world: dict[str, Any], settings: Settings, db_url: str
) -> None:
    made = upload(client, files.pdf(), "application/pdf").json()
    on_device = upload(
        client, files.pdf(), "application/pdf", target=f"devices/{world['device']}"
    ).json()
    secret = make_token(db_url, "mali-field", "field_engineer", ["ML"], rate_limit_per_minute=0)
    with _client(settings, secret) as mali:
        for url in (
            f"/api/v1/sites/{NE_SITE}/attachments",
            f"/api/v1/devices/{world['device']}/attachments",
            f"/api/v1/work-orders/{world['order']}/attachments",
            f"/api/v1/attachments/{made['id']}",
            f"/api/v1/attachments/{made['id']}/content",
            f"/api/v1/attachments/{on_device['id']}",
            f"/api/v1/attachments/{on_device['id']}/content",
        ):
            assert mali.get(url).status_code == 404, url
        for target in (
            f"sites/{NE_SITE}",
            f"devices/{world['device']}",
            f"work-orders/{world['order']}",
        ):
            refused = upload(mali, files.pdf(), "application/pdf", target=target)
            assert refused.status_code == 404, (target, refused.text)
        assert rows(db_url) == (2, 2)
        own = upload(mali, files.pdf(), "application/pdf", target=f"sites/{ML_SITE}")
        assert own.status_code == 201, own.text
        assert own.json()["created_by"] == "mali-field"


def test_roles_viewers_read_field_engineers_upload_planners_delete(
    client: TestClient[Any], world: dict[str, Any], settings: Settings, db_url: str
) -> None:
    made = upload(client, files.pdf(), "application/pdf").json()
    url = f"/api/v1/attachments/{made['id']}"
    viewer = make_token(db_url, "viewer", "viewer", rate_limit_per_minute=0)
    field = make_token(db_url, "field", "field_engineer", rate_limit_per_minute=0)
    planner = make_token(db_url, "planner", "planner", rate_limit_per_minute=0)
    with _client(settings, viewer) as reader:
        assert reader.get(made["content_url"]).status_code == 200
        assert upload(reader, files.pdf(), "application/pdf").status_code == 403
    with _client(settings, field) as engineer:
        assert upload(engineer, files.pdf(), "application/pdf").status_code == 201
        assert engineer.delete(url, headers={"If-Match": '"1"'}).status_code == 403
    assert rows(db_url) == (2, 2)
    with _client(settings, planner) as planning:
        assert planning.delete(url).status_code == 428
        assert planning.delete(url, headers={"If-Match": '"2"'}).status_code == 412
        assert planning.delete(url, headers={"If-Match": '"1"'}).status_code == 204
        assert planning.get(url).status_code == 404
        assert planning.get(made["content_url"]).status_code == 404
    assert rows(db_url) == (1, 1)


def test_create_and_delete_are_in_the_change_log(
    client: TestClient[Any], world: dict[str, Any]
) -> None:
    made = upload(client, files.jpeg(), "image/jpeg", name="log.jpg").json()
    gone = client.delete(f"/api/v1/attachments/{made['id']}", headers={"If-Match": '"1"'})
    assert gone.status_code == 204
    records = client.get("/api/v1/changes", params={"object_type": "attachment"}).json()["items"]
    assert {(r["action"], r["actor"], r["object_key"]) for r in records} == {
        ("create", "test-admin", "log.jpg"),
        ("delete", "test-admin", "log.jpg"),
    }
    created = next(r for r in records if r["action"] == "create")
    assert created["country"] == "NE"
    assert created["changes"]["location_removed"] == {"before": None, "after": True}
    assert created["changes"]["sha256"]["after"] == made["sha256"]


def test_an_owner_with_files_is_not_deleted(
    client: TestClient[Any], world: dict[str, Any], db_url: str
) -> None:
    device_url = f"/api/v1/devices/{world['device']}"
    on_device = upload(client, files.pdf(), "application/pdf", target=f"devices/{world['device']}")
    tag = {"If-Match": client.get(device_url).headers["etag"]}
    refused = client.delete(device_url, headers=tag)
    assert refused.status_code == 409, refused.text
    assert "1 attachments" in refused.json()["detail"]
    client.delete(on_device.headers["location"], headers={"If-Match": '"1"'})
    assert client.delete(device_url, headers=tag).status_code == 204
    # a site is not deleted while its work orders hold files (the orders would go with it)
    site_url = f"/api/v1/sites/{NE_SITE}"
    made = upload(client, files.pdf(), "application/pdf", target=f"work-orders/{world['order']}")
    assert made.status_code == 201, made.text
    refused = client.delete(site_url, headers={"If-Match": client.get(site_url).headers["etag"]})
    assert refused.status_code == 409, refused.text
    assert "attachments" in refused.json()["detail"]
    assert rows(db_url) == (1, 1)
