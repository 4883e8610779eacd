"""Hostile input gets a 4xx problem detail naming the field, on both databases, never a 500,
and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.integration.test_bad_input import assert_problem, site_body, snapshot


@pytest.fixture
def fleet(client: TestClient[Any]) -> dict[str, Any]:
    from tests import factories

    return factories.small_fleet(client)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/sites", {"q": "\x00"}, "q"),
        ("/api/v1/sites", {"country": "N\x00E"}, "country"),
        ("/api/v1/changes", {"actor": "a\x00"}, "actor"),
        ("/api/v1/sites/NE%00X", {}, "key"),
    ],
)
def test_nul_in_urls_is_refused(
    client: TestClient[Any], fleet: dict[str, Any], path: str, params: dict[str, str], field: str
) -> None:
    assert_problem(client.get(path, params=params), 422, field, "NUL")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (site_body(name="a\x00b"), "name"),
        (site_body(notes="\x00"), "notes"),
        (site_body(tags=["ok", "b\x00d"]), "tags.1"),
    ],
)
def test_nul_in_bodies_is_refused(
    client: TestClient[Any], fleet: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = snapshot(client)
    assert_problem(client.post("/api/v1/sites", json=body), 422, field, "NUL")
    url = f"/api/v1/sites/{fleet['site']['code']}"
    patch = client.patch(url, json={"notes": "x\x00"}, headers={"If-Match": '"1"'})
    assert_problem(patch, 422, "notes", "NUL")
    assert snapshot(client) == before


def test_nul_in_a_batch_is_refused(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    before = snapshot(client)
    batch = {"operations": [{"op": "create", "type": "site", "data": site_body(name="\x00")}]}
    response = client.post("/api/v1/batch", json=batch)
    assert_problem(response, 422, "operations.0.data.name", "NUL")
    assert snapshot(client) == before


def _raw(client: TestClient[Any], method: str, path: str, body: bytes, kind: str) -> Any:
    return client.request(method, path, content=body, headers={"Content-Type": kind})


def test_deep_nesting_is_a_clear_400(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    before = snapshot(client)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_problem(_raw(client, "POST", "/api/v1/sites", deep, "application/json"), 400, None, "32")
    url = f"/api/v1/sites/{fleet['site']['code']}"
    patch = client.patch(
        url,
        content=b'{"notes": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        headers={"If-Match": '"1"', "Content-Type": "application/json"},
    )
    assert_problem(patch, 400, None, "nests deeper than 32 levels")
    assert snapshot(client) == before


def test_loose_bodies_are_refused(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    before = snapshot(client)
    text = json.dumps(site_body()).encode()
    assert_problem(_raw(client, "POST", "/api/v1/sites", text, "text/plain"), 415)
    twice = text[:-1] + b', "name": "Other"}'
    assert_problem(
        _raw(client, "POST", "/api/v1/sites", twice, "application/json"), 400, None, "twice"
    )
    empty = _raw(client, "POST", "/api/v1/sites", b"", "application/json")
    assert_problem(empty, 400, None, "empty")
    assert "'data'" not in empty.text
    assert snapshot(client) == before


def test_chunked_body_over_the_limit_is_413(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    before = snapshot(client)

    def chunks() -> Any:
        yield b'{"notes": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/api/v1/sites", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)
    assert snapshot(client) == before
