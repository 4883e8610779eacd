"""The OpenAPI document says what the server really sends: every error response is the problem
detail (``application/problem+json``), every problem carries the request id, and HEAD answers on
every GET route as GET does, without a body."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.settings import Settings
from tests import factories
from tests.conftest import auth, make_token

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture
def document(settings: Settings) -> dict[str, Any]:
    doc: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return doc


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_every_error_response_is_the_problem_that_is_sent(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, op in _operations(document):
        for code, response in op["responses"].items():
            if code.startswith(("2", "3")):
                continue
            content = response.get("content", {})
            schema = content.get("application/problem+json", {}).get("schema", {})
            if list(content) != ["application/problem+json"] or "Problem" not in str(schema):
                wrong.append(f"{method} {path} {code}: {list(content)} {schema}")
        if "400" not in op["responses"]:
            wrong.append(f"{method} {path}: no 400")
    assert not wrong, "\n".join(wrong)
    assert "ValidationException" not in str(document)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nowhere", 404),
        ("GET", "/nowhere", 404),
        ("PUT", "/api/v1/sites", 405),
        ("DELETE", "/api/v1/health", 405),
    ],
)
def test_a_problem_of_an_unknown_route_has_the_request_id(
    client: TestClient[Any], method: str, path: str, status: int
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["request_id"]
    assert answer.json()["request_id"] == answer.headers["x-request-id"]
    given = client.request(method, path, headers={"X-Request-ID": "traced-request-0001"})
    assert given.json()["request_id"] == "traced-request-0001"


def test_head_answers_as_get_without_a_body(client: TestClient[Any]) -> None:
    factories.country(client)
    for path in ("/metrics", "/api/v1/health", "/api/v1/sites", "/api/v1/countries/NE"):
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers.get("etag") == got.headers.get("etag"), path
    missing = client.head("/api/v1/countries/ZZ")
    assert missing.status_code == 404
    assert missing.content == b""


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("fields=", "fields"),
        ("fields=name,nope", "fields"),
        ("sort=nope", "sort"),
        ("q=", "q"),
        ("cursor=a%20b", "cursor"),
        ("kind=nope", "kind"),
        ("parent_id=x", "parent_id"),
    ],
)
def test_a_query_the_document_forbids_is_refused_naming_it(
    client: TestClient[Any], document: dict[str, Any], query: str, field: str
) -> None:
    declared = {p["name"]: p for p in document["paths"]["/api/v1/devices"]["get"]["parameters"]}
    assert "'pattern'" in str(declared[field]) or "'minimum'" in str(declared[field]), field
    answer = client.get(f"/api/v1/devices?{query}")
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in str(answer.json()), answer.json()


def _says_nothing(schema: dict[str, Any]) -> bool:
    """An empty schema, or a free-form object (any keys, any values)."""
    shaped = ("$ref", "properties", "items", "oneOf", "anyOf", "allOf", "enum", "const")
    return not any(key in schema for key in shaped) and schema.get("type") in (None, "object")


def test_every_success_answer_has_a_schema(document: dict[str, Any]) -> None:
    untyped = []
    for method, path, op in _operations(document):
        for code, response in op["responses"].items():
            if not code.startswith("2"):
                continue
            for media, content in response.get("content", {}).items():
                if _says_nothing(content.get("schema", {})):
                    untyped.append(f"{method} {path} {code} {media}: {content.get('schema')}")
    assert not untyped, "\n".join(untyped)


def _schema(document: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


def test_batch_results_are_a_tagged_union_of_what_is_sent(
    document: dict[str, Any], client: TestClient[Any], db_url: str
) -> None:
    answer = document["paths"]["/api/v1/batch"]["post"]["responses"]["200"]
    items = _schema(document, answer["content"]["application/json"]["schema"]["$ref"])
    union = items["properties"]["results"]["items"]
    assert union["discriminator"]["propertyName"] == "status"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == {"applied", "conflict", "invalid", "forbidden"}
    assert sorted(mapping.values()) == sorted(ref["$ref"] for ref in union["oneOf"])
    country = factories.country(client)
    changes = [
        {
            "id": "c1",
            "op": "create",
            "object": "country",
            "data": {"code": "ML", "name": "Mali", "region": "Sahel"},
        },
        {"id": "c2", "op": "update", "object": "country", "key": "NE", "if_match": '"9"'},
        {"id": "c3", "op": "create", "object": "country", "data": {"code": 5}},
    ]
    body = client.post("/api/v1/batch", json={"changes": changes}).json()
    assert [r["status"] for r in body["results"]] == ["applied", "conflict", "invalid"]
    assert country["code"] == "NE"
    viewer = make_token(db_url, "field", "field_engineer", rate_limit_per_minute=0)
    refused = client.post(
        "/api/v1/batch", json={"changes": [{**changes[0], "id": "c4"}]}, headers=auth(viewer)
    ).json()
    for result in [*body["results"], *refused["results"]]:
        variant = _schema(document, mapping[result["status"]])
        assert variant["properties"]["status"]["const"] == result["status"]
        assert set(variant["required"]) <= set(result) <= set(variant["properties"]), result
    assert refused["results"][0]["status"] == "forbidden"
    assert refused["forbidden"] == 1


def test_geojson_is_declared_as_the_feature_collection_sent(
    document: dict[str, Any], client: TestClient[Any]
) -> None:
    content = document["paths"]["/api/v1/status/sites.geojson"]["get"]["responses"]["200"][
        "content"
    ]
    assert list(content) == ["application/geo+json"]
    collection = _schema(document, content["application/geo+json"]["schema"]["$ref"])
    assert collection["properties"]["type"]["const"] == "FeatureCollection"
    feature = _schema(document, collection["properties"]["features"]["items"]["$ref"])
    properties = _schema(document, feature["properties"]["properties"]["$ref"])
    factories.country(client)
    factories.site(client)
    answer = client.get("/api/v1/status/sites.geojson")
    assert answer.headers["content-type"].startswith("application/geo+json")
    sent = answer.json()["features"]
    assert sent
    for item in sent:
        assert set(item) == set(feature["properties"])
        assert (
            set(item["properties"]) == set(properties["properties"]) == set(properties["required"])
        )
        assert item["geometry"]["type"] == "Point"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/countries", "GET, HEAD, OPTIONS, POST"),
        ("/api/v1/countries/NE", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/api/v1/tokens/1", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/api/v1/health", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_allows_every_method_of_the_route(
    client: TestClient[Any], path: str, allowed: str
) -> None:
    answer = client.options(path)
    assert answer.status_code == 204
    assert answer.headers["allow"] == allowed


@pytest.mark.parametrize("value", ["196784", "0.5", "2026-11-01", "2026-11-01T00:00:00"])
def test_a_time_is_rfc_3339_with_its_offset(client: TestClient[Any], value: str) -> None:
    for path in ("/api/v1/changes", "/api/v1/status/events"):
        answer = client.get(path, params={"since": value})
        assert answer.status_code == 422, (path, value, answer.text)
        assert answer.json()["errors"][0]["field"] == "since"
    good = client.get("/api/v1/changes", params={"since": "2026-11-01T00:00:00+01:00"})
    assert good.status_code == 200


def test_a_malformed_if_match_is_refused_naming_it(client: TestClient[Any]) -> None:
    factories.country(client)
    for value in ("null", "3", 'W/"1"'):
        answer = client.patch(
            "/api/v1/countries/NE", json={"name": "Niger"}, headers={"If-Match": value}
        )
        assert answer.status_code == 422, (value, answer.text)
        assert answer.json()["errors"][0]["field"] == "If-Match"
    assert client.get("/api/v1/countries/NE").json()["version"] == 1


def test_the_bodies_declare_what_the_server_validates(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    site = schemas["SiteCreate"]
    assert site["additionalProperties"] is False
    assert "Africa/Niamey" in site["properties"]["timezone"]["description"]
    assert site["properties"]["code"]["pattern"]
    oids = schemas["DeviceModelCreate"]["properties"]["snmp_oids"]
    assert oids["type"] == "object"
    assert oids["propertyNames"]["pattern"]
    address = str(schemas["DeviceCreate"]["properties"]["management_address"])
    assert "ipv4" in address
    assert "ipv6" in address


def test_an_integer_is_what_json_schema_calls_one(client: TestClient[Any]) -> None:
    factories.country(client)
    made = factories.site(client, criticality=2.0)
    assert made["criticality"] == 2
    body = {k: made[k] for k in ("name", "kind", "country", "latitude", "longitude")}
    for value in ("2", 2.5, True, 0.0, 6):
        answer = client.post(
            "/api/v1/sites", json={**body, "code": "NE-BCL-777", "criticality": value}
        )
        assert answer.status_code == 422, (value, answer.text)
        assert answer.json()["errors"][0]["field"] == "criticality"
