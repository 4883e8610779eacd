"""Uploading photos and documents: what is stored (the location removed, the size read), what is
refused (each a problem detail naming the field, nothing stored), and retries with an
Idempotency-Key. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.database import Database
from tests import factories
from tests.integration.attachments import files

SITE = "NE-ATT-1"


@pytest.fixture
def site(client: TestClient[Any]) -> str:
    factories.country(client)
    factories.site(client, code=SITE)
    return SITE


def upload(
    client: TestClient[Any],
    data: bytes,
    content_type: str,
    *,
    name: str = "photo.jpg",
    target: str = f"sites/{SITE}",
    headers: dict[str, str] | None = None,
    **params: str,
) -> Any:
    return client.post(
        f"/api/v1/{target}/attachments",
        content=data,
        params={"name": name, **params},
        headers={"Content-Type": content_type, **(headers or {})},
    )


async def _rows(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            meta = await session.scalar(sa.text("SELECT count(*) FROM attachment"))
            data = await session.scalar(sa.text("SELECT count(*) FROM attachment_content"))
            return int(meta or 0), int(data or 0)
    finally:
        await db.dispose()


def rows(url: str) -> tuple[int, int]:
    """(metadata rows, content rows)."""
    return asyncio.run(_rows(url))


def test_a_jpeg_is_stored_without_its_location(
    client: TestClient[Any], site: str, db_url: str
) -> None:
    sent = files.jpeg((640, 480))
    assert files.location_of(sent)  # the file really carries a GPS block
    answer = upload(client, sent, "image/jpeg", name="mast.jpg")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {
        "id",
        "object_type",
        "object_key",
        "name",
        "content_type",
        "size",
        "sha256",
        "width",
        "height",
        "location_removed",
        "created_at",
        "created_by",
        "content_url",
    }
    assert (body["object_type"], body["object_key"], body["name"]) == ("site", site, "mast.jpg")
    assert (body["width"], body["height"], body["location_removed"]) == (640, 480, True)
    assert body["created_by"] == "test-admin"
    assert answer.headers["location"] == f"/api/v1/attachments/{body['id']}"
    assert answer.headers["etag"] == '"1"'
    stored = client.get(body["content_url"])
    assert stored.status_code == 200
    assert files.location_of(stored.content) == {}
    assert files.make_of(stored.content) == "Acme"  # other metadata stays
    assert files.pixels(stored.content) == files.pixels(sent)  # not re-encoded
    assert body["size"] == len(stored.content)
    assert body["sha256"] == hashlib.sha256(stored.content).hexdigest()
    assert rows(db_url) == (1, 1)


def test_keep_location_keeps_it(client: TestClient[Any], site: str) -> None:
    sent = files.jpeg()
    answer = upload(client, sent, "image/jpeg", keep_location="true")
    assert answer.status_code == 201, answer.text
    assert answer.json()["location_removed"] is False
    stored = client.get(answer.json()["content_url"]).content
    assert stored == sent
    assert files.location_of(stored) == files.GPS


@pytest.mark.parametrize(
    ("make", "content_type", "size"),
    [
        (files.png, "image/png", (64, 48)),
        (files.webp, "image/webp", (64, 48)),
        (files.pdf, "application/pdf", None),
    ],
)
def test_png_webp_and_pdf_pass(
    client: TestClient[Any], site: str, make: Any, content_type: str, size: Any
) -> None:
    sent = make()
    answer = upload(client, sent, content_type, name=f"evidence.{content_type.split('/')[1]}")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["content_type"] == content_type
    stored = client.get(body["content_url"]).content
    if size is None:
        assert (body["width"], body["height"], body["location_removed"]) == (None, None, False)
        assert stored == sent
    else:
        assert (body["width"], body["height"]) == size
        assert body["location_removed"] is True
        assert files.location_of(stored) == {}
        assert files.pixels(stored) == files.pixels(sent)


def test_an_image_without_a_location_is_stored_as_sent(client: TestClient[Any], site: str) -> None:
    sent = files.jpeg(gps=False)
    answer = upload(client, sent, "image/jpeg")
    assert answer.status_code == 201, answer.text
    assert answer.json()["location_removed"] is False
    assert client.get(answer.json()["content_url"]).content == sent


RLO = "x\u202egpj.exe"  # shown as "xexe.jpg"
HTML = b"<!doctype html><html><script>alert(1)</script></html>"


@pytest.mark.parametrize(
    ("data", "content_type", "params", "status", "field"),
    [
        pytest.param(files.png(), "image/jpeg", {}, 415, "Content-Type", id="png-as-jpeg"),
        pytest.param(b"just some text\n", "application/pdf", {}, 415, "Content-Type", id="text"),
        pytest.param(HTML, "image/jpeg", {"name": "x.jpg"}, 415, "Content-Type", id="html-jpg"),
        pytest.param(files.jpeg(), "text/html", {}, 415, "Content-Type", id="html-type"),
        pytest.param(files.jpeg(), "", {}, 415, "Content-Type", id="no-type"),
        pytest.param(files.jpeg((640, 480))[:-900], "image/jpeg", {}, 422, "body", id="truncated"),
        pytest.param(files.png()[:60], "image/png", {}, 422, "body", id="truncated-png"),
        pytest.param(files.pdf()[:-7], "application/pdf", {}, 422, "body", id="pdf-no-eof"),
        pytest.param(b"", "image/jpeg", {}, 422, "body", id="empty"),
        pytest.param(files.png_bomb(8000, 8000), "image/png", {}, 422, "body", id="bomb"),
        pytest.param(files.png_bomb(30000, 30000), "image/png", {}, 422, "body", id="big-bomb"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": "../etc/x.jpg"}, 422, "name", id="sep"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": "a\\b.jpg"}, 422, "name", id="backslash"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": "a\tb.jpg"}, 422, "name", id="control"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": RLO}, 422, "name", id="rlo"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": ""}, 422, "name", id="empty-name"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": "n" * 201}, 422, "name", id="long-name"),
        pytest.param(files.jpeg(), "image/jpeg", {"name": ".."}, 422, "name", id="dots"),
    ],
)
def test_a_bad_upload_is_refused_naming_the_field_and_stores_nothing(
    client: TestClient[Any],
    site: str,
    db_url: str,
    data: bytes,
    content_type: str,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    answer = upload(client, data, content_type, **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert field in [e["field"] for e in problem.get("errors", [])], problem
    assert problem["detail"]
    assert rows(db_url) == (0, 0)


def test_a_missing_name_is_refused(client: TestClient[Any], site: str, db_url: str) -> None:
    answer = client.post(
        f"/api/v1/sites/{site}/attachments",
        content=files.jpeg(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert answer.status_code in (400, 422), answer.text
    assert "name" in str(answer.json())
    assert rows(db_url) == (0, 0)


def test_an_over_size_body_is_refused_with_413(
    client: TestClient[Any], site: str, db_url: str
) -> None:
    limit = client.app.state.settings.attachment_max_bytes
    big = files.jpeg() + b"\x00" * limit
    answer = upload(client, big, "image/jpeg")
    assert answer.status_code == 413, answer.text
    assert "body" in [e["field"] for e in answer.json()["errors"]]
    assert rows(db_url) == (0, 0)


def test_an_over_size_body_without_a_length_is_cut_off_while_it_streams(
    client: TestClient[Any], site: str, db_url: str
) -> None:
    limit = client.app.state.settings.attachment_max_bytes
    sent = 0

    def chunks() -> Any:
        nonlocal sent
        while sent < 4 * limit:
            sent += 65536
            yield b"\xff" * 65536

    answer = client.post(
        f"/api/v1/sites/{site}/attachments",
        content=chunks(),
        params={"name": "stream.jpg"},
        headers={"Content-Type": "image/jpeg"},
    )
    assert answer.status_code == 413, answer.text
    assert rows(db_url) == (0, 0)


def test_the_51st_attachment_is_refused(client: TestClient[Any], site: str, db_url: str) -> None:
    most = client.app.state.settings.attachment_max_per_object
    sent = files.pdf()
    for n in range(most):
        assert upload(client, sent, "application/pdf", name=f"d{n}.pdf").status_code == 201
    answer = upload(client, sent, "application/pdf", name="one-too-many.pdf")
    assert answer.status_code == 409, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["code"]
    assert str(most) in answer.json()["detail"]
    assert rows(db_url) == (most, most)


def test_the_same_upload_twice_with_one_key_is_stored_once(
    client: TestClient[Any], site: str, db_url: str
) -> None:
    sent = files.jpeg()
    key = {"Idempotency-Key": "photo-0001"}
    first = upload(client, sent, "image/jpeg", headers=key)
    again = upload(client, sent, "image/jpeg", headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert rows(db_url) == (1, 1)
    other = upload(client, files.png(), "image/png", headers=key)
    assert other.status_code == 422, other.text
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert rows(db_url) == (1, 1)


def test_an_over_size_body_with_a_key_is_refused_and_the_key_stays_free(
    client: TestClient[Any], site: str, db_url: str
) -> None:
    limit = client.app.state.settings.attachment_max_bytes
    key = {"Idempotency-Key": "photo-big"}
    answer = upload(client, b"\xff\xd8\xff" + b"\x00" * limit, "image/jpeg", headers=key)
    assert answer.status_code == 413, answer.text
    retry = upload(client, files.jpeg(), "image/jpeg", headers=key)
    assert retry.status_code == 201, retry.text
    assert rows(db_url) == (1, 1)
